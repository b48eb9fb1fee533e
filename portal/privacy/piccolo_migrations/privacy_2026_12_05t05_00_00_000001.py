"""The data requests log (exports, erasures, retention runs). Self-contained: the table as it
is at this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T05:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "The data requests log"


Company = declared_reference_table("Company", "company")


class DataRequest(Table, tablename="data_request"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    client_id = Integer(null=True, default=None)
    client_code = Varchar(length=64, default="")
    kind = Varchar(length=10)
    status = Varchar(length=10, default="asked")
    requested_by = Varchar(length=201, default="")
    requester = Varchar(length=100, default="")
    session_hash = Varchar(length=64, default="")
    include_notes = Boolean(default=False)
    job = Integer(null=True, default=None)
    details = Text(default="")
    requested_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)


# The log is read newest first, by company and by client. A client is anonymised once, and has
# at most one erasure it asked for that staff have not answered: a second one is refused by the
# database too, whatever two requests race.
INDEXES = [
    "CREATE INDEX data_request_company ON data_request (company, id)",
    "CREATE INDEX data_request_client ON data_request (client_id, kind)",
    "CREATE UNIQUE INDEX data_request_anonymised ON data_request (client_id) "
    "WHERE kind = 'erasure' AND status = 'done'",
    "CREATE UNIQUE INDEX data_request_erasure_asked ON data_request (client_id) "
    "WHERE kind = 'erasure' AND status = 'asked'",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="privacy", description=DESCRIPTION)

    add_create_tables(manager, [DataRequest], INDEXES)
    return manager
