"""Background jobs: long work staff start from a page or the command line (an import, a bulk
action), with its progress, its checkpoint and the per-row problems it met."""

from piccolo.columns import Bytea, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")


class Job(Table):
    """queued -> running -> done | failed | cancelled. A runner claims a job for a while
    (`claimed_by`, `claimed_at`, renewed with every step); a claim gone stale (its process died)
    is taken over, and the handler goes on from `checkpoint`, which each step commits together
    with the rows it wrote."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=40)
    title = Varchar(length=200)
    status = Varchar(length=10, default="queued")
    payload = Text()  # JSON: what to do, fixed when the job is queued
    checkpoint = Text(default="{}")  # JSON: how far it got
    total = Integer(default=0)
    done = Integer(default=0)
    failed = Integer(default=0)
    message = Text(default="")  # why a job failed, or what a finished one did
    actor = Text()  # JSON: who started it and what they may do
    created_by = Varchar(length=201, default="")  # as people read it
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    claimed_by = Varchar(length=40, null=True, default=None)
    claimed_at = Timestamptz(null=True, default=None)
    result_file = Integer(null=True, default=None)  # a JobFile the job made (an export)
    return_to = Varchar(length=500, default="")  # the page the job was started from


class JobProblem(Table, tablename="job_problem"):
    """One thing a job could not do: the row of a file (or the client) and why."""

    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.cascade, index=True)
    row = Integer()
    column = Varchar(length=100, default="")
    message = Text()


class JobKey(Table, tablename="job_key"):
    """A value a job has met (an email of an imported file) and the first row it was on, so
    that a later row with the same value is told apart from a new one, with memory flat and
    across a restart; (job, key) is unique."""

    job = ForeignKey(references=Job, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=300)
    row = Integer()


class JobFile(Table, tablename="job_file"):
    """A file jobs read (an uploaded CSV: its dry run, then its import), kept in the database in
    parts so that any process can run the job; dropped some days after its upload."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=255)
    size = Integer(default=0)
    meta = Text(default="{}")  # JSON: what reading it found (e.g. a CSV's format and header)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class JobFilePart(Table, tablename="job_file_part"):
    file = ForeignKey(references=JobFile, null=False, on_delete=OnDelete.cascade)
    position = Integer()
    data = Bytea()
