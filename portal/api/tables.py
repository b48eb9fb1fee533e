"""API keys: only a SHA-256 of the key is stored, with a short prefix people recognise it by."""

from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company


class ApiKey(Table, tablename="api_key"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    key_hash = Varchar(length=64, unique=True)  # hex SHA-256 of the whole key
    prefix = Varchar(length=16)  # the key's first characters, shown in lists
    created_by = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
