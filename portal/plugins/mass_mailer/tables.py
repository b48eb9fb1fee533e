"""The mass mailer's tables: mailings (jobs), one row per recipient address, and the addresses
that must not get marketing mail (suppressions), per company."""

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.clients.tables import Client, Contact
from portal.companies.tables import Company


class MailingJob(Table, tablename="mailer_job"):
    """A mailing: what was chosen in the wizard (filter and message templates) and its state."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=10)  # marketing | service
    status = Varchar(length=10, default="queued")  # queued | sending | done | cancelled
    filter = Text()  # the wizard's filter, as JSON
    from_name = Varchar(length=100)
    from_address = Varchar(length=254)
    subject = Varchar(length=255)  # templates, rendered per recipient
    body_text = Text()
    body_html = Text(default="")
    total = Integer(default=0)
    created_by = Varchar(length=100, default="")  # who queued it, as people read it
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


class MailingRecipient(Table, tablename="mailer_recipient"):
    """One address of a mailing (unique per job: one message per address), and whose it is:
    the client's primary contact (`contact` is null: the client's own consent applies) or one
    of its billing or other contacts (`contact`: that contact's own consent applies).

    pending -> sending -> sent, or failed / skipped. A worker claims pending rows for a while
    (`claimed_by`, `claimed_at`), turns each to `sending` just before handing it to SMTP and to
    `sent` as soon as the server accepted it; see worker.py for what a crash leaves behind."""

    job = ForeignKey(references=MailingJob, null=False, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    # A billing or other contact of the client; null for the primary contact.
    contact = ForeignKey(
        references=Contact, null=True, default=None, on_delete=OnDelete.cascade, index=True
    )
    email = Varchar(length=254)  # lower-case
    status = Varchar(length=10, default="pending")  # pending | sending | sent | failed | skipped
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    claimed_by = Varchar(length=40, null=True, default=None)
    claimed_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    logged = Boolean(default=False)  # written to the client's mail log
    error = Text(default="")
    unsubscribed_at = Timestamptz(null=True, default=None)
    # The random token of the row's unsubscribe link (unique, see the migrations).
    unsubscribe_token = Varchar(length=64, null=True, default=None)


class Suppression(Table, tablename="mailer_suppression"):
    """An address of a company that gets no marketing mail: unsubscribed or bounced;
    (company, email) is unique (see the migrations)."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    email = Varchar(length=254)  # lower-case
    reason = Varchar(length=12)  # unsubscribe | bounce
    source = Varchar(length=50)  # unsubscribe-link, api-key:3, ...
    created_at = Timestamptz(default=TimestamptzNow())
