from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import (
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

ID = "2026-12-04T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Users of client accounts, their memberships and invitations; contacts' logins"


class Company(Table, tablename="company", schema=None):
    id = Serial(primary_key=True)


class Client(Table, tablename="client", schema=None):
    id = Serial(primary_key=True)


class AccountUser(Table, tablename="account_user", schema=None):
    id = Serial(primary_key=True)


class Contact(Table, tablename="contact", schema=None):
    id = Serial(primary_key=True)


def _column(manager, class_name, tablename, name, column_class, **params):
    manager.add_column(
        table_class_name=class_name,
        tablename=tablename,
        column_name=name,
        db_column_name=name,
        column_class_name=column_class.__name__,
        column_class=column_class,
        params=params,
        schema=None,
    )


def _table(manager, class_name, tablename):
    manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
    return class_name, tablename


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    user = _table(manager, "AccountUser", "account_user")
    _column(manager, *user, "company", ForeignKey, references=Company,
            on_delete=OnDelete.cascade, null=False)
    _column(manager, *user, "username", Varchar, length=254, default="")
    _column(manager, *user, "email", Varchar, length=254, default="")
    _column(manager, *user, "name", Varchar, length=201, default="")
    _column(manager, *user, "password_hash", Varchar, length=255, null=True, default=None)
    _column(manager, *user, "language", Varchar, length=16, default="en")
    _column(manager, *user, "session_epoch", Integer, default=0)
    _column(manager, *user, "created_at", Timestamptz, default=TimestamptzNow())
    _column(manager, *user, "last_login_at", Timestamptz, null=True, default=None)
    _column(manager, *user, "last_login_ip", Varchar, length=45, null=True, default=None)

    member = _table(manager, "AccountMember", "account_member")
    _column(manager, *member, "user", ForeignKey, references=AccountUser,
            on_delete=OnDelete.cascade, null=False, index=True)
    _column(manager, *member, "client", ForeignKey, references=Client,
            on_delete=OnDelete.cascade, null=False, index=True)
    _column(manager, *member, "owner", Boolean, default=False)
    _column(manager, *member, "permissions", Varchar, length=255, default="")
    _column(manager, *member, "created_at", Timestamptz, default=TimestamptzNow())

    invitation = _table(manager, "AccountInvitation", "account_invitation")
    _column(manager, *invitation, "client", ForeignKey, references=Client,
            on_delete=OnDelete.cascade, null=False, index=True)
    _column(manager, *invitation, "email", Varchar, length=254, default="")
    _column(manager, *invitation, "permissions", Varchar, length=255, default="")
    _column(manager, *invitation, "token_hash", Varchar, length=64, default="", unique=True)
    _column(manager, *invitation, "invited_by", Varchar, length=201, default="")
    _column(manager, *invitation, "expires_at", Timestamptz, default=TimestamptzNow())
    _column(manager, *invitation, "used_at", Timestamptz, null=True, default=None)
    _column(manager, *invitation, "revoked_at", Timestamptz, null=True, default=None)
    _column(manager, *invitation, "created_at", Timestamptz, default=TimestamptzNow())

    _column(manager, "Contact", "contact", "login", ForeignKey, references=AccountUser,
            on_delete=OnDelete.set_null, null=True, default=None, index=True)
    _column(manager, "Contact", "contact", "marketing_opt_in", Boolean, default=False)
    _column(manager, "ConsentEvent", "consent_event", "contact", ForeignKey, references=Contact,
            on_delete=OnDelete.cascade, null=True, default=None)

    return manager
