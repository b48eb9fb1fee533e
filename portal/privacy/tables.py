"""The data requests log: every export of a client's personal data, every erasure (asked by
the client, done by staff or by retention) and every retention run, with who asked, when and
what was done."""

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company

KINDS = ("export", "erasure", "retention")
# asked: an export being prepared (its job says how far), an erasure the client asked for and
# staff have not answered, a retention run queued; done; declined (an erasure staff refused).
STATUSES = ("asked", "done", "declined")


class DataRequest(Table, tablename="data_request"):
    """One request. `client_id` is a plain integer, not a foreign key: the log outlives the
    client (a deleted client's lines name only its client ID, `client_code`); none for a
    retention run. A client has at most one done erasure (its anonymisation) and one erasure
    asked and not yet answered (unique indexes of the migration). `requested_by` is who asked,
    as people read it; `requester` their actor label ("staff:3", "client:12", "system")."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    client_id = Integer(null=True, default=None)
    client_code = Varchar(length=64, default="")
    kind = Varchar(length=10)
    status = Varchar(length=10, default="asked")
    requested_by = Varchar(length=201, default="")
    requester = Varchar(length=100, default="")
    # An export asked in the client area: the SHA-256 of the session's sign-in handle, so that
    # only that session downloads it.
    session_hash = Varchar(length=64, default="")
    include_notes = Boolean(default=False)  # an export: staff-only notes included
    job = Integer(null=True, default=None)  # the export's or the retention run's job
    details = Text(default="")  # what was done, or why (a reason), in sentences
    requested_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)  # an export: its download until then
