"""The outbox of what happened to a company's data, for other systems to hear of."""

from piccolo.columns import ForeignKey, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company


class Event(Table):
    """One thing that happened (a client created, a consent withdrawn), written in the
    transaction of the change itself: a change rolled back leaves no event, a committed one
    always has its event, whatever happens to a process afterwards. `data` is JSON naming what
    changed (IDs, client IDs, field names), never the values themselves. The webhooks' worker
    hands each event to the endpoints that want it and sets `dispatched_at` in the same
    transaction (portal.webhooks.worker)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    event_type = Varchar(length=50)
    data = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    dispatched_at = Timestamptz(null=True, default=None)
