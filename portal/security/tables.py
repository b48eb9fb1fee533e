"""Second factors and sessions of a login, named by (kind, user_id): kind "staff" for a staff
member, "client" for a user of the client area."""

from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class TwoFactor(Table, tablename="two_factor"):
    """A login's TOTP secret (encrypted at rest). Until `enabled_at` it is only being enrolled.
    `last_step` is the last time step a code was accepted for: no code of it or before is
    accepted again. (kind, user_id) is unique (an index of the migration)."""

    kind = Varchar(length=10)
    user_id = Integer()
    secret = Text()
    enabled_at = Timestamptz(null=True, default=None)
    last_step = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())


class RecoveryCode(Table, tablename="recovery_code"):
    """A single-use recovery code of a login with two-factor on; only its SHA-256 is kept."""

    kind = Varchar(length=10)
    user_id = Integer(index=True)
    code_hash = Varchar(length=64)
    used_at = Timestamptz(null=True, default=None)


class Passkey(Table):
    """A WebAuthn credential of a login (discoverable, so it names its login when used)."""

    kind = Varchar(length=10)
    user_id = Integer(index=True)
    credential_id = Varchar(length=1400, unique=True)  # base64url
    public_key = Text()  # base64url of the COSE key
    sign_count = Integer(default=0)
    name = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)


class LoginSession(Table, tablename="login_session"):
    """A session a login opened: what "Your sessions" lists and what revoking ends. The session
    itself (portal.core.sessions) holds only `handle`; a request of a session whose row has
    ended is logged out. `staff_name`: a staff member who opened it with Login as Client."""

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
    """A challenge the server gave a passkey ceremony: used once (deleted when answered), and
    only for its `purpose` ("sign-in:staff", "register:client:12", "confirm:staff:3")."""

    challenge = Varchar(length=100, unique=True)  # base64url
    purpose = Varchar(length=40)
    expires_at = Timestamptz(index=True)
