"""API keys: only a SHA-256 of the key is stored, with a short prefix people recognise it by,
and the permissions it was granted."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company


class ApiKey(Table, tablename="api_key"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    key_hash = Varchar(length=64, unique=True)  # hex SHA-256 of the whole key
    prefix = Varchar(length=16)  # the key's first characters, shown in lists
    # The staff member who made it (None: the command line). A plain id, not a foreign key:
    # the key outlives its maker's account, and has no permission left once they are gone.
    creator_staff_id = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class ApiKeyPermission(Table, tablename="api_key_permission"):
    """A permission a key was granted (portal.api.permissions); (api_key, permission) is
    unique."""

    api_key = ForeignKey(references=ApiKey, null=False, on_delete=OnDelete.cascade)
    permission = Varchar(length=64)


class ApiIdempotency(Table, tablename="api_idempotency"):
    """A POST sent with an `Idempotency-Key`, so that the same request sent again gets the first
    answer instead of a second client (portal.api.idempotency). (api_key, idempotency_key) is
    unique; rows go after a day."""

    api_key = ForeignKey(references=ApiKey, null=False, on_delete=OnDelete.cascade)
    idempotency_key = Varchar(length=255)
    request_hash = Varchar(length=64)  # hex HMAC-SHA-256 of the method, path and parsed body
    status_code = Integer(null=True, default=None)  # None: the first request has not finished
    response_body = Text(default="")
    response_headers = Text(default="")  # JSON: the Location and ETag of the first answer
    created_at = Timestamptz(default=TimestamptzNow())
