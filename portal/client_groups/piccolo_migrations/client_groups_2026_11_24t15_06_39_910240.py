from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Text, Varchar

from portal.core.migration_steps import add_table, reference_table

ClientGroup = reference_table("ClientGroup", "client_group")
Company = reference_table("Company", "company")

ID = "2026-11-24T15:06:39:910240"
VERSION = "1.38.0"
DESCRIPTION = "group settings and custom fields"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_groups", description=DESCRIPTION)

    add_table(
        manager,
        "ClientGroupSetting",
        "client_group_setting",
        [
            ("group", ForeignKey, {"references": ClientGroup}),
            ("key", Varchar, {"length": 100}),
            ("value", Text, {}),
        ],
    )

    add_table(
        manager,
        "CustomField",
        "custom_field",
        [
            ("company", ForeignKey, {"references": Company}),
            ("group", ForeignKey, {"references": ClientGroup, "index": True}),
            ("label", Varchar, {"length": 100}),
            ("field_type", Varchar, {"length": 10}),
            ("options", Text, {}),
            ("required", Varchar, {"length": 5, "default": "no"}),
            ("regex", Text, {}),
            ("visible_to_client", Boolean, {}),
            ("read_only_for_client", Boolean, {}),
            ("encrypted", Boolean, {}),
            ("default_value", Text, {}),
            ("position", Integer, {}),
        ],
    )

    return manager
