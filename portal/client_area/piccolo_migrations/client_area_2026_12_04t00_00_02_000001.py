from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

ID = "2026-12-04T00:00:02:000001"
VERSION = "1.38.0"
DESCRIPTION = "Password reset links belong to a user of the client area, not to a client"


class AccountUser(Table, tablename="account_user", schema=None):
    id = Serial(primary_key=True)


def _column(manager, name, column_class, **params):
    manager.add_column(
        table_class_name="PasswordResetToken",
        tablename="password_reset_link",
        column_name=name,
        db_column_name=name,
        column_class_name=column_class.__name__,
        column_class=column_class,
        params=params,
        schema=None,
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_area", description=DESCRIPTION)

    async def drop_client_links():
        # Links live an hour; the few outstanding ones are dropped rather than carried over.
        await Table.raw("DROP TABLE password_reset_token")

    manager.add_raw(drop_client_links)
    manager.add_table(
        class_name="PasswordResetToken", tablename="password_reset_link", schema=None, columns=None
    )
    _column(manager, "user", ForeignKey, references=AccountUser, on_delete=OnDelete.cascade,
            null=False, index=True)
    _column(manager, "token_hash", Varchar, length=64, default="", unique=True)
    _column(manager, "expires_at", Timestamptz, default=TimestamptzNow())
    _column(manager, "used_at", Timestamptz, null=True, default=None)
    _column(manager, "created_at", Timestamptz, default=TimestamptzNow())
    return manager
