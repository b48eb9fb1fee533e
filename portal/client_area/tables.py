from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.clients.tables import AccountUser


class PasswordResetToken(Table, tablename="password_reset_link"):
    """A password reset link of a client-area user: only the SHA-256 of the token is kept;
    single use; short-lived."""

    user = ForeignKey(references=AccountUser, null=False, on_delete=OnDelete.cascade, index=True)
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
