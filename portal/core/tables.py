"""Cross-cutting tables: server-side sessions and login throttling."""

from piccolo.columns import Bytea, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Session(Table, tablename="portal_session"):
    """One row per live session; the cookie carries only `key`."""

    key = Varchar(length=128, primary_key=True)
    data = Bytea()
    expires_at = Timestamptz(null=True, default=None, index=True)


class LoginFailure(Table):
    """A failed login, kept an hour: counted per account and per address to throttle guessing."""

    key = Varchar(length=300, index=True)
    at = Timestamptz(default=TimestamptzNow(), index=True)
