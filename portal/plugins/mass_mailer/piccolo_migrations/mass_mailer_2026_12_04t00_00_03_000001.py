from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

from portal.core.migration_steps import add_columns, declared_reference_table

ID = "2026-12-04T00:00:03:000001"
VERSION = "1.38.0"
DESCRIPTION = "Recipients may be billing or other contacts: the contact a recipient row is for"

# A recipient row with no contact is the client's primary contact (as every row queued before
# this migration is); one with a contact is that billing or other contact of the client, mailed
# on its own consent. Deleting the contact deletes its rows, as deleting the client does.

Contact = declared_reference_table("Contact", "contact")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="mass_mailer", description=DESCRIPTION)

    add_columns(
        manager,
        "MailingRecipient",
        "mailer_recipient",
        [
            (
                "contact",
                ForeignKey,
                {"references": Contact, "null": True, "default": None, "index": True},
            )
        ],
    )

    return manager
