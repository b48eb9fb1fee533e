from piccolo.columns import ForeignKey, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.clients.tables import Client
from portal.companies.tables import Company


class MailMessage(Table):
    """Every message the portal sends, kept as the mail log (and, without SMTP, the outbox)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    # The client it was sent to; the log of that client, deleted with it.
    client = ForeignKey(
        references=Client, null=True, default=None, on_delete=OnDelete.cascade, index=True
    )
    kind = Varchar(length=30)  # registration | client_email | ...
    from_address = Varchar(length=320)
    to_address = Varchar(length=320)
    subject = Varchar(length=255)
    body_text = Text()
    status = Varchar(length=10, default="pending")  # pending | outbox | sent | failed
    error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)
