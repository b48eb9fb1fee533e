from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import Bytea, ForeignKey, Integer, Serial, Varchar
from piccolo.table import Table

ID = "2026-12-03T10:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "The company's details, sender, time zone, date format and logo"


class Company(Table, tablename="company", schema=None):
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


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="companies", description=DESCRIPTION)

    company = ("Company", "company")
    for name, length, default in (
        ("address1", 255, ""),
        ("address2", 255, ""),
        ("city", 100, ""),
        ("state", 10, ""),
        ("zip", 20, ""),
        ("phone", 40, ""),
        ("sender_name", 100, ""),
        ("sender_email", 254, ""),
        ("timezone", 64, "UTC"),
        ("date_format", 16, "%Y-%m-%d"),
        ("logo_type", 4, ""),
    ):
        _column(manager, *company, name, Varchar, length=length, default=default)
    _column(manager, *company, "logo_version", Integer, default=0)

    manager.add_table(class_name="CompanyLogo", tablename="company_logo", schema=None, columns=None)
    logo = ("CompanyLogo", "company_logo")
    _column(manager, *logo, "company", ForeignKey, references=Company,
            on_delete=OnDelete.cascade, null=False, unique=True)
    _column(manager, *logo, "content", Bytea, default=b"")

    return manager
