from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Company(Table):
    """A company of the install; clients, groups and settings belong to one."""

    name = Varchar(length=255)
    default_currency = Varchar(length=3, default="USD")  # ISO 4217
    default_language = Varchar(length=16, default="en")  # a language code the portal ships
    default_country = Varchar(length=2, default="US")  # ISO 3166-1 alpha-2
    client_id_format = Varchar(length=64, default="{num}")
    client_id_start = Integer(default=1500)
    client_id_increment = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())


class CompanySetting(Table):
    """A company's settings as key/value rows; (company, key) is unique (see migrations)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=100)
    value = Text()


class ClientIdSequence(Table):
    """The next client number per company and ID format, taken under the write lock."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    id_format = Varchar(length=64)
    next_value = Integer()
