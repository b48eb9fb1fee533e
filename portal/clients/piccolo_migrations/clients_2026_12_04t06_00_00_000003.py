from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

ID = "2026-12-04T06:00:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "Email verification links of client-area users"


class AccountUser(Table, tablename="account_user", schema=None):
    id = Serial(primary_key=True)


def _column(manager, name, column_class, **params):
    manager.add_column(
        table_class_name="EmailVerification",
        tablename="email_verification_link",
        column_name=name,
        db_column_name=name,
        column_class_name=column_class.__name__,
        column_class=column_class,
        params=params,
        schema=None,
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)
    manager.add_table(
        class_name="EmailVerification",
        tablename="email_verification_link",
        schema=None,
        columns=None,
    )
    _column(manager, "user", ForeignKey, references=AccountUser, on_delete=OnDelete.cascade,
            null=False, index=True)
    _column(manager, "email", Varchar, length=254, default="")
    _column(manager, "token_hash", Varchar, length=64, default="", unique=True)
    _column(manager, "expires_at", Timestamptz, default=TimestamptzNow())
    _column(manager, "used_at", Timestamptz, null=True, default=None)
    _column(manager, "created_at", Timestamptz, default=TimestamptzNow())
    return manager
