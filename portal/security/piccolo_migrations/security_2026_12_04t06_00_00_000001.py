"""The tables of account security. Self-contained: the tables as they are at this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables

ID = "2026-12-04T06:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Two-factor secrets, recovery codes, passkeys and login sessions"


class TwoFactor(Table, tablename="two_factor"):
    kind = Varchar(length=10)
    user_id = Integer()
    secret = Text()
    enabled_at = Timestamptz(null=True, default=None)
    last_step = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())


class RecoveryCode(Table, tablename="recovery_code"):
    kind = Varchar(length=10)
    user_id = Integer(index=True)
    code_hash = Varchar(length=64)
    used_at = Timestamptz(null=True, default=None)


class Passkey(Table):
    kind = Varchar(length=10)
    user_id = Integer(index=True)
    credential_id = Varchar(length=1400, unique=True)
    public_key = Text()
    sign_count = Integer(default=0)
    name = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)


class LoginSession(Table, tablename="login_session"):
    handle = Varchar(length=64, unique=True)
    kind = Varchar(length=10)
    user_id = Integer(index=True)
    method = Varchar(length=20, default="password")
    user_agent = Varchar(length=300, default="")
    address = Varchar(length=45, default="")
    staff_id = Integer(null=True, default=None)
    staff_name = Varchar(length=201, default="")
    reason = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)


class PasskeyChallenge(Table, tablename="passkey_challenge"):
    challenge = Varchar(length=100, unique=True)  # base64url
    purpose = Varchar(length=40)
    expires_at = Timestamptz(index=True)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="security", description=DESCRIPTION)

    add_create_tables(
        manager,
        [TwoFactor, RecoveryCode, Passkey, PasskeyChallenge, LoginSession],
        ["CREATE UNIQUE INDEX two_factor_login ON two_factor (kind, user_id)"],
    )
    return manager
