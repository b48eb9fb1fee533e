"""The company's activity log: one line per change or sign-in, as staff read it."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company


class ActivityEvent(Table, tablename="activity_event"):
    """Who did what, when, from where. `staff_id` and `client_id` are plain integers, not
    foreign keys, and the actor's name is kept as it was: a line outlives the staff member or
    client it names (a deleted client's line names only its client ID)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    at = Timestamptz(default=TimestamptzNow())
    kind = Varchar(length=20)  # see portal.activity.services.KINDS
    actor_kind = Varchar(length=20)
    actor_name = Varchar(length=200, default="")
    staff_id = Integer(null=True, default=None)
    client_id = Integer(null=True, default=None)
    summary = Varchar(length=500)
    address = Varchar(length=45, default="")
