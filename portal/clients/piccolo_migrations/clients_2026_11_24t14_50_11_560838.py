from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
ClientGroup = reference_table("ClientGroup", "client_group")
Company = reference_table("Company", "company")
Contact = reference_table("Contact", "contact")

ID = "2026-11-24T14:50:11:560838"
VERSION = "1.38.0"
DESCRIPTION = "initial tables"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "Client",
        "client",
        [
            ("company", ForeignKey, {"references": Company}),
            ("group", ForeignKey, {"references": ClientGroup, "on_delete": OnDelete.restrict}),
            ("number", Integer, {}),
            ("code", Varchar, {"length": 64}),
            ("status", Varchar, {"length": 10, "default": "active"}),
            ("username", Varchar, {"length": 254}),
            ("password_hash", Varchar, {"default": None, "null": True}),
            ("preferred_currency", Varchar, {"length": 3, "default": "USD"}),
            ("language", Varchar, {"length": 16, "default": "en"}),
            ("tax_exempt", Boolean, {}),
            ("tax_id", Varchar, {"length": 64}),
            ("marketing_opt_in", Boolean, {}),
            ("session_epoch", Integer, {}),
            ("version", Integer, {"default": 1}),
            ("created_at", Timestamptz, {}),
            ("updated_at", Timestamptz, {}),
            ("last_login_at", Timestamptz, {"default": None, "null": True}),
            ("last_login_ip", Varchar, {"length": 45, "default": None, "null": True}),
        ],
    )

    add_table(
        manager,
        "Contact",
        "contact",
        [
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("contact_type", Varchar, {"length": 10, "default": "primary"}),
            ("first_name", Varchar, {"length": 100}),
            ("last_name", Varchar, {"length": 100}),
            ("company", Varchar, {}),
            ("title", Varchar, {"length": 100}),
            ("address1", Varchar, {}),
            ("address2", Varchar, {}),
            ("city", Varchar, {"length": 100}),
            ("state", Varchar, {"length": 10}),
            ("zip", Varchar, {"length": 20}),
            ("country", Varchar, {"length": 2}),
            ("email", Varchar, {"length": 254}),
        ],
    )

    add_table(
        manager,
        "ContactNumber",
        "contact_number",
        [
            ("contact", ForeignKey, {"references": Contact, "index": True}),
            ("number_type", Varchar, {"length": 5, "default": "phone"}),
            ("location", Varchar, {"length": 5, "default": "home"}),
            ("number", Varchar, {"length": 32}),
            ("extension", Varchar, {"length": 10}),
            ("position", Integer, {}),
        ],
    )

    return manager
