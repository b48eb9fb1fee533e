from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Text, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
Company = reference_table("Company", "company")

ID = "2026-11-24T14:59:05:005482"
VERSION = "1.38.0"
DESCRIPTION = "mail log"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="mail", description=DESCRIPTION)

    add_table(
        manager,
        "MailMessage",
        "mail_message",
        [
            ("company", ForeignKey, {"references": Company}),
            ("client", ForeignKey, {"references": Client, "null": True, "index": True}),
            ("kind", Varchar, {"length": 30}),
            ("from_address", Varchar, {"length": 320}),
            ("to_address", Varchar, {"length": 320}),
            ("subject", Varchar, {}),
            ("body_text", Text, {}),
            ("status", Varchar, {"length": 10, "default": "pending"}),
            ("error", Text, {}),
            ("created_at", Timestamptz, {}),
            ("sent_at", Timestamptz, {"default": None, "null": True}),
        ],
    )

    return manager
