from piccolo.columns import Bytea, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
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
    # [Settings] > [Company] > General. The address's country is `default_country`.
    address1 = Varchar(length=255)
    address2 = Varchar(length=255)
    city = Varchar(length=100)
    state = Varchar(length=10)  # ISO 3166-2
    zip = Varchar(length=20)
    phone = Varchar(length=40)
    sender_name = Varchar(length=100)  # the From of the company's mail, when set
    sender_email = Varchar(length=254)
    timezone = Varchar(length=64, default="UTC")  # an IANA name
    date_format = Varchar(length=16, default="%Y-%m-%d")  # one of companies.services.DATE_FORMATS
    # The logo's URL is /logo/{id}/{logo_version}.{logo_type}; no logo when logo_type is empty.
    # The version only grows, so a browser never shows an old logo from its cache.
    logo_version = Integer(default=0)
    logo_type = Varchar(length=4)


class CompanySetting(Table):
    """A company's settings as key/value rows; (company, key) is unique (see migrations)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=100)
    value = Text()

    @classmethod
    async def get(cls, company_id: int, key: str) -> str | None:
        """One setting of a company; None when it was never set."""
        row = await cls.select(cls.value).where(cls.company == company_id, cls.key == key).first()
        return row["value"] if row else None

    @classmethod
    async def put(cls, company_id: int, key: str, value: str) -> None:
        """Sets one setting of a company (inside the caller's write transaction)."""
        await cls.delete().where(cls.company == company_id, cls.key == key)
        await cls.insert(cls(company=company_id, key=key, value=value))


class CompanyLogo(Table):
    """The image of a company's logo, in the database so that every process serves it."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, unique=True)
    content = Bytea()


class ClientIdSequence(Table):
    """The next client number per company and ID format, taken under the write lock."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    id_format = Varchar(length=64)
    next_value = Integer()
