from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey, Serial
from piccolo.table import Table

ID = "2026-12-04T00:00:03:000001"
VERSION = "1.38.0"
DESCRIPTION = "Recipients may be billing or other contacts: the contact a recipient row is for"

# A recipient row with no contact is the client's primary contact (as every row queued before
# this migration is); one with a contact is that billing or other contact of the client, mailed
# on its own consent. Deleting the contact deletes its rows, as deleting the client does.


class Contact(Table, tablename="contact", schema=None):
    id = Serial(primary_key=True)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="mass_mailer", description=DESCRIPTION)

    manager.add_column(
        table_class_name="MailingRecipient",
        tablename="mailer_recipient",
        column_name="contact",
        db_column_name="contact",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Contact,
            "on_delete": OnDelete.cascade,
            "null": True,
            "default": None,
            "index": True,
        },
        schema=None,
    )

    return manager
