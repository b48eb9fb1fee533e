"""Background jobs, their problems and their files. Self-contained: the tables as they are at
this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Bytea, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Background jobs with progress, problems and uploaded files"


Company = declared_reference_table("Company", "company")


class Job(Table):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=40)
    title = Varchar(length=200)
    status = Varchar(length=10, default="queued")
    payload = Text()
    checkpoint = Text(default="{}")
    total = Integer(default=0)
    done = Integer(default=0)
    failed = Integer(default=0)
    message = Text(default="")
    actor = Text()
    created_by = Varchar(length=201, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    claimed_by = Varchar(length=40, null=True, default=None)
    claimed_at = Timestamptz(null=True, default=None)
    result_file = Integer(null=True, default=None)  # a JobFile the job made (an export)


class JobProblem(Table, tablename="job_problem"):
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.cascade, index=True)
    row = Integer()
    column = Varchar(length=100, default="")
    message = Text()


class JobKey(Table, tablename="job_key"):
    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=300)
    row = Integer()


class JobFile(Table, tablename="job_file"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=255)
    size = Integer(default=0)
    meta = Text(default="{}")  # JSON: what reading it found (e.g. a CSV's format and header)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class JobFilePart(Table, tablename="job_file_part"):
    file = ForeignKey(references=JobFile, null=False, on_delete=OnDelete.cascade)
    position = Integer()
    data = Bytea()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="jobs", description=DESCRIPTION)

    add_create_tables(
        manager,
        [Job, JobProblem, JobKey, JobFile, JobFilePart],
        [
            "CREATE INDEX job_waiting ON job (status, claimed_at)",
            "CREATE UNIQUE INDEX job_file_part_order ON job_file_part (file, position)",
            "CREATE UNIQUE INDEX job_key_once ON job_key (job, key)",
        ],
    )
    return manager
