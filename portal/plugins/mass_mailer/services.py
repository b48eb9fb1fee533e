"""The mass mailer's rules, in one place: who a filter reaches, what a message may say, how a
mailing is queued, how an address unsubscribes or is suppressed.

Who gets marketing mail is decided here and nowhere else (candidates_sql): the primary contact
of a client who opted in (`Client.marketing_opt_in`), and each billing or other contact who
opted in itself (`Contact.marketing_opt_in`; the client's consent does not stand for its
contacts', nor theirs for the client's), whose address is not suppressed for the company and,
where the client's group requires verified email addresses, is one a login of the company has
verified; one message per address. No filter value can widen that; the worker checks it again
for every message just before sending it.

What a message may say, and how each recipient's is rendered, is portal.plugins.mass_mailer.
messages.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.header import Header
from email.utils import formataddr, formatdate
from typing import Any

from portal.activity import services as activity
from portal.client_groups.services import setting_sql
from portal.clients import segments
from portal.clients.services import STATUSES, record_consent, set_marketing_opt_in
from portal.clients.tables import Contact
from portal.companies.services import get_company
from portal.core import throttle
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.countries import is_country
from portal.core.db import copy_rows, read_transaction, sha256_hex, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import reported_address
from portal.core.i18n import LANGUAGES
from portal.core.ids import is_row_id
from portal.core.lookups import company_row
from portal.core.placeholders import placeholders
from portal.core.rows import from_row
from portal.mail import services as mail
from portal.mail.services import with_header
from portal.plugins.mass_mailer import MAILER_COMPOSE, MAILER_SEND
from portal.plugins.mass_mailer.messages import (
    CompiledMessage,
    Compose,
    RenderedMessage,
    compile_off_loop,
    render_off_loop,
    template_context,
)
from portal.plugins.mass_mailer.tables import MailingJob, MailingRecipient, Suppression

KINDS = {"marketing": "Marketing", "service": "Service"}
MAX_FILTER_VALUES = 300  # per list in a filter; more is not a filter anyone types
MAX_BROWSE_FILTER = 500  # characters of a Browse filter, as long as a segment's
UNSUBSCRIBE_WORDING = "Unsubscribe from marketing emails (one-click unsubscribe link)"
UNSUBSCRIBE_SOURCE = "unsubscribe-link"
UNCERTAIN_ERROR = (
    "Interrupted while the message was being handed to the mail server: it may have arrived, "
    "so it is not sent again."
)

# --- filters --------------------------------------------------------------------------------


@dataclass
class MailingFilter:
    """Who a mailing reaches. Empty lists mean "any"; statuses default to Active. Besides its
    own values: the clients of a segment (`segment_id`), those Browse's filters find
    (`browse_filter`, as a segment keeps them: all the clients of a Browse view, handed over
    from Clients), or chosen clients (`client_ids`, handed over from Clients), each resolved
    by the clients service whenever the filter is used."""

    kind: str = "marketing"
    group_ids: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: ["active"])
    languages: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    created_from: date | None = None
    created_to: date | None = None
    segment_id: int | None = None
    browse_filter: str = ""
    client_ids: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("created_from", "created_to"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MailingFilter:
        data = json.loads(text)
        for key in ("created_from", "created_to"):
            data[key] = date.fromisoformat(data[key]) if data.get(key) else None
        return cls(**data)


def check_filter(mailing_filter: MailingFilter) -> dict[str, str]:
    """Problems with a filter, by field. Values come from forms or the API: every one is
    checked against what exists, so nothing unexpected reaches the database."""
    errors: dict[str, str] = {}
    f = mailing_filter
    if f.kind not in KINDS:
        errors["kind"] = "Choose Marketing or Service."
    for name, values in (
        ("group_ids", f.group_ids),
        ("statuses", f.statuses),
        ("languages", f.languages),
        ("countries", f.countries),
        ("client_ids", f.client_ids),
    ):
        if len(values) > MAX_FILTER_VALUES:
            errors[name] = f"Choose at most {MAX_FILTER_VALUES} values."
    if not f.statuses:
        errors["statuses"] = "Choose at least one status."
    elif any(status not in STATUSES for status in f.statuses):
        errors["statuses"] = "Choose statuses from the list."
    if not all(is_row_id(group_id) for group_id in f.group_ids):
        errors["group_ids"] = "Choose client groups from the list."
    if f.segment_id is not None and not is_row_id(f.segment_id):
        errors["segment"] = "Choose a segment from the list."
    if not all(is_row_id(client_id) for client_id in f.client_ids):
        errors["client_ids"] = "Choose clients in Clients."
    if not _readable_browse_filter(f.browse_filter):
        errors["browse_filter"] = "The filter of Browse is not one Browse can read."
    if any(language not in LANGUAGES for language in f.languages):
        errors["languages"] = "Choose languages from the list."
    if any(not is_country(country) for country in f.countries):
        errors["countries"] = "Choose countries from the list."
    # Any date is a date: a range that ends before it starts simply matches nobody.
    return errors


def _readable_browse_filter(text: str) -> bool:
    if len(text) > MAX_BROWSE_FILTER:
        return False
    try:
        segments.query_of(text)
    except ValidationError:
        return False
    return True


# Whose consent lets an unsubscribed address be mailed again (over `c` = client, and `oc` = a
# billing or other contact): a later opt-in by the same person. The primary contact's consent
# is the client's (consent events without a contact); another contact's is its own.
PRIMARY_CONSENT = "e.client = c.id AND e.contact IS NULL"
CONTACT_CONSENT = "e.contact = oc.id"


def suppression_clause(
    kind: str, email: str = "ct.email", own_consent: str = PRIMARY_CONSENT
) -> tuple[str, list[Any]]:
    """SQL (over `c` = client and the person whose address `email` is: `ct`, its primary
    contact, by default) that is true when the address may get mail of this kind, with its
    parameters. Bounced addresses get none; unsubscribed ones no marketing mail, unless this
    person opted in again after the unsubscribe (`own_consent` picks their consent events);
    unverified ones no marketing mail when the client's group requires verified addresses."""
    if kind == "marketing":
        reason = (
            "(s.reason = 'bounce' OR NOT EXISTS (SELECT 1 FROM consent_event e "  # noqa: S608 - fixed SQL only
            f"WHERE {own_consent} AND e.opted_in = {{}} AND e.at > s.created_at))"
        )
        params: list[Any] = [True]
    else:
        reason, params = "s.reason = 'bounce'", []
    # An address is suppressed as it is, or by its hash alone (an erased client's, see
    # forget_client).
    hashed = f"'{ERASED_PREFIX}' || {sha256_hex(f'lower({email})')}"
    sql = (
        "NOT EXISTS (SELECT 1 FROM mailer_suppression s WHERE s.company = c.company "  # noqa: S608 - placeholders and fixed SQL only
        f"AND s.email IN (lower({email}), {hashed}) AND {reason})"
    )
    if kind == "marketing":
        sql += " AND " + verified_clause(email)
    return sql, params


def verified_clause(email: str) -> str:
    """SQL (over `c` = client) that is true when the address `email` may get marketing mail
    as far as verification goes: the client's group does not require verified addresses
    (`email_verification`), or a login of the company has verified this address."""
    return (
        f"({setting_sql('email_verification')} <> 'true' OR EXISTS (SELECT 1 FROM account_user u "  # noqa: S608 - fixed SQL only
        f"WHERE u.company = c.company AND lower(u.email) = lower({email}) "
        "AND u.email_verified_at IS NOT NULL))"
    )


CLIENTS_AND_CONTACTS = (
    "FROM client c JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
)
OTHER_CONTACTS = "JOIN contact oc ON oc.client = c.id AND oc.contact_type IN ('billing', 'other') "
# The columns of each candidate (see candidates_sql), in this order.
CANDIDATE_COLUMNS = (
    "client",  # the client's id
    "contact",  # a billing or other contact's id; null for the primary contact
    "contact_type",  # primary | billing | other
    "email",  # lower-case
    "address",  # as typed
    "first_name",
    "last_name",
    "company",
    "country",  # the person's own
    "pref",  # 0 for primary contacts, 1 for the others: who gets a shared address first
)
# One candidate per address: primary contacts first, then by client and contact id.
ONE_PER_ADDRESS = (
    "ROW_NUMBER() OVER (PARTITION BY cand.email ORDER BY cand.pref, cand.client, cand.contact)"
)


async def _client_clauses(
    company_id: int, mailing_filter: MailingFilter, after_client: int | None = None
) -> tuple[list[str], list]:
    """WHERE clauses over clients (`c`) and their primary contacts (`ct`) that the filter's
    values reach (the client's group, status, language, country and creation date, segment,
    Browse filter, chosen clients), of the clients with an id above `after_client` when given.
    A segment deleted since the filter was made reaches nobody."""
    f = mailing_filter
    clauses: list[str] = []
    params: list[Any] = []

    def where(clause: str, values: Sequence[Any]) -> None:
        clauses.append(clause)
        params.extend(values)

    def where_in(column: str, values: Sequence[Any]) -> None:
        where(f"{column} IN ({placeholders(len(values))})", values)

    where("c.company = {}", [company_id])
    if after_client is not None:
        where("c.id > {}", [after_client])
    if f.group_ids:
        where_in('c."group"', f.group_ids)
    where_in("c.status", f.statuses)
    if f.languages:
        where_in("c.language", f.languages)
    if f.countries:
        where_in("ct.country", [country.upper() for country in f.countries])
    if f.created_from:
        where("c.created_at >= {}", [datetime.combine(f.created_from, time(), tzinfo=UTC)])
    if f.created_to and f.created_to < date.max:  # the last day there is: no end at all
        day_after = datetime.combine(f.created_to + timedelta(days=1), time(), tzinfo=UTC)
        where("c.created_at < {}", [day_after])
    if f.client_ids:
        where_in("c.id", f.client_ids)
    if f.browse_filter:
        where(*segments.filters_condition(company_id, f.browse_filter))
    if f.segment_id is not None:
        try:
            where(*await segments.client_condition(company_id, f.segment_id))
        except NotFound:
            where("1 = 0", [])
    return clauses, params


async def candidates_sql(
    company_id: int, mailing_filter: MailingFilter, after_client: int | None = None
) -> tuple[str, list[Any]]:
    """A SELECT of everyone `mailing_filter` reaches (CANDIDATE_COLUMNS), with its parameters,
    before the one-message-per-address rule: the primary contacts of the clients it matches
    and, for marketing, their billing and other contacts. Marketing always means consent and
    an address that is not suppressed: a primary contact's consent is the client's
    (`Client.marketing_opt_in`), another contact's its own (`Contact.marketing_opt_in`), and
    neither stands for the other. No filter value can widen that."""
    f = mailing_filter
    clauses, client_params = await _client_clauses(company_id, f, after_client)
    primary = [*clauses, "ct.email <> ''"]
    params = list(client_params)
    if f.kind == "marketing":
        primary.append("c.marketing_opt_in = {}")
        params.append(True)
    suppressed, suppressed_params = suppression_clause(f.kind)
    primary.append(suppressed)
    params += suppressed_params
    sql = (
        "SELECT c.id AS client, CAST(NULL AS INTEGER) AS contact, "  # noqa: S608 - placeholders and fixed SQL only
        "'primary' AS contact_type, lower(ct.email) AS email, ct.email AS address, "
        "ct.first_name, ct.last_name, ct.company, ct.country, 0 AS pref "
        + CLIENTS_AND_CONTACTS
        + "WHERE "
        + " AND ".join(primary)
    )
    if f.kind != "marketing":
        return sql, params
    suppressed, suppressed_params = suppression_clause(f.kind, "oc.email", CONTACT_CONSENT)
    others = [*clauses, "oc.email <> ''", "oc.marketing_opt_in = {}", suppressed]
    sql += (
        " UNION ALL SELECT c.id, oc.id, oc.contact_type, lower(oc.email), oc.email, "  # noqa: S608 - placeholders and fixed SQL only
        "oc.first_name, oc.last_name, oc.company, oc.country, 1 "
        + CLIENTS_AND_CONTACTS
        + OTHER_CONTACTS
        + "WHERE "
        + " AND ".join(others)
    )
    return sql, params + client_params + [True] + suppressed_params


async def count_recipients(company_id: int, mailing_filter: MailingFilter) -> int:
    """How many messages the filter gives: one per address, compared case-insensitively."""
    if check_filter(mailing_filter):
        return 0
    sql, params = await candidates_sql(company_id, mailing_filter)
    rows = await MailingJob.raw(
        f"SELECT count(DISTINCT cand.email) AS n FROM ({sql}) cand",  # noqa: S608 - placeholders and fixed SQL only
        *params,
    )
    return rows[0]["n"]


RECIPIENT_COLUMNS = (
    "r.email, r.address, r.client AS client_id, r.contact AS contact_id, r.contact_type, "
    "c.code, r.first_name, r.last_name, r.company, c.language, r.country, c.status, "
    "g.name AS group_name"
)


async def iter_recipients(
    company_id: int, mailing_filter: MailingFilter, page_size: int = 1_000
) -> AsyncIterator[dict]:
    """The filter's recipients, one per address (a primary contact before another contact,
    then the lowest client ID), ordered by address and read a page at a time, so a CSV of
    100,000 rows never sits in memory."""
    sql, params = await candidates_sql(company_id, mailing_filter)
    after = ""
    while True:
        rows = await MailingJob.raw(
            f"SELECT {RECIPIENT_COLUMNS} FROM (SELECT cand.*, {ONE_PER_ADDRESS} AS n "  # noqa: S608 - placeholders and fixed SQL only
            f"FROM ({sql}) cand WHERE cand.email > {{}}) r "
            "JOIN client c ON c.id = r.client "
            'JOIN client_group g ON g.id = c."group" '
            "WHERE r.n = 1 ORDER BY r.email LIMIT {}",
            *params,
            after,
            page_size,
        )
        for row in rows:
            yield row
        if len(rows) < page_size:
            return
        after = rows[-1]["email"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading =, +, -, @, tab or CR would start a
    formula (CSV injection), so such cells get a leading single quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def message_domain(from_address: str) -> str:
    return from_address.rpartition("@")[2] or "localhost"


def _header(value: str) -> str:
    """A header value: as is when ASCII, else RFC 2047 encoded words (folded)."""
    return value if value.isascii() else Header(value, "utf-8", maxlinelen=76).encode()


def _text_part(content_type: str, text: str) -> list[bytes]:
    body = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return [
        f"Content-Type: {content_type}; charset=utf-8".encode(),
        b"Content-Transfer-Encoding: quoted-printable",
        b"",
        body,
    ]


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready for SMTP: envelope, the headers people see in the mail log, and the
    bytes of the message."""

    sender: str
    to: str
    from_header: str
    data: bytes


def build_email(
    compiled: CompiledMessage,
    rendered: RenderedMessage,
    *,
    to: str,
    job_id: int,
    recipient_id: int,
    unsubscribe_url: str | None,
    html_header: str = "",
) -> OutgoingMail:
    """The message as it goes out, written directly as MIME: the `email` package's header
    objects cost milliseconds a message, more than everything else of sending it. Its
    Message-ID is the same every time for a job and recipient, so a copy sent twice would at
    least be recognisable as the same message. Every header value is one line: the subject was
    made one line when rendered, the rest are checked addresses and names. An HTML part starts
    with `html_header` (the company's logo and name, portal.mail.services.html_header)."""
    from_header = formataddr((compiled.from_name, compiled.from_address), charset="utf-8")
    domain = message_domain(compiled.from_address)
    lines = [
        f"From: {from_header}".encode(),
        f"To: {to}".encode(),
        f"Subject: {_header(rendered.subject)}".encode(),
        f"Date: {formatdate(usegmt=True)}".encode(),
        f"Message-ID: <mailing-{job_id}-recipient-{recipient_id}@{domain}>".encode(),
        b"MIME-Version: 1.0",
    ]
    if unsubscribe_url is not None:
        lines += [
            f"List-Unsubscribe: <{unsubscribe_url}>".encode(),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            b"Precedence: bulk",
        ]
    if rendered.body_html:
        boundary = f"=_mailing-{job_id}-{recipient_id}-{secrets.token_hex(8)}"
        lines += [
            f'Content-Type: multipart/alternative; boundary="{boundary}"'.encode(),
            b"",
            f"--{boundary}".encode(),
            *_text_part("text/plain", rendered.body_text),
            f"--{boundary}".encode(),
            *_text_part("text/html", with_header(rendered.body_html, html_header)),
            f"--{boundary}--".encode(),
            b"",
        ]
    else:
        lines += _text_part("text/plain", rendered.body_text)
    return OutgoingMail(
        sender=compiled.from_address,
        to=to,
        from_header=formataddr((compiled.from_name, compiled.from_address)),
        data=b"\r\n".join(lines),
    )


# --- unsubscribe links ----------------------------------------------------------------------

# The token of each recipient row: random, stored with the row, so a link tells nothing (not
# even how many messages were sent) and stays valid whatever happens to the secret key.
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")  # URL-safe base64, as made by secrets
# Unknown links from one address are counted like every one-time link (throttle.counted_link):
# past throttle.LINK_LIMITS the address is refused. A link that works is not counted against
# it, so a mail provider's one-click unsubscribes for many people are not refused.
UNSUBSCRIBE_THROTTLE_AREA = "unsubscribe-link"


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def unsubscribe_url(token: str) -> str:
    return f"{get_settings().base_url}/unsubscribe/{token}"


@dataclass(frozen=True)
class UnsubscribeTarget:
    recipient_id: int
    company_id: int
    company_name: str
    client_id: int
    contact_id: int | None  # a billing or other contact; None: the client's primary contact
    email: str
    done: bool  # already unsubscribed through this link

    @property
    def masked_email(self) -> str:
        """The address half hidden: the page is reachable by whoever holds the link."""
        local, _, domain = self.email.partition("@")
        shown = local[:2] if len(local) > 3 else local[:1]
        return f"{shown}{'•' * max(1, len(local) - len(shown))}@{domain}"


async def unsubscribe_target(token: str, address: str) -> UnsubscribeTarget:
    """Who a link unsubscribes; NotFound for malformed and unknown tokens and rows that no
    longer exist (the same answer). The lookup counts for `address`: too many unknown links
    from it, Throttled, whatever the link."""
    target = await throttle.counted_link(UNSUBSCRIBE_THROTTLE_AREA, token, address, _target_of)
    if target is None:
        raise NotFound()
    return target


async def _target_of(token: str) -> UnsubscribeTarget | None:
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    rows = await MailingRecipient.raw(
        "SELECT r.id AS recipient_id, r.client AS client_id, r.contact AS contact_id, r.email, "
        "r.unsubscribed_at, j.company AS company_id, co.name AS company_name "
        "FROM mailer_recipient r JOIN mailer_job j ON j.id = r.job "
        "JOIN company co ON co.id = j.company "
        "WHERE r.unsubscribe_token = {} AND j.kind = 'marketing'",
        token,
    )
    if not rows:
        return None
    return from_row(UnsubscribeTarget, rows[0], done=rows[0]["unsubscribed_at"] is not None)


async def unsubscribe(token: str, address: str) -> UnsubscribeTarget:
    """One-click unsubscribe: suppresses the address for the company's marketing mail and opts
    out whom the message was for, with a consent record, in one transaction: the client (its
    primary contact's consent is the client's) or the one billing or other contact, whose
    client's consent stays as it is. Using the link again changes nothing and succeeds the same
    way. Counted for `address` like the confirmation page (NotFound, Throttled)."""
    target = await unsubscribe_target(token, address)
    now = datetime.now(UTC)
    actor = Actor(kind=UNSUBSCRIBE_SOURCE, address=address)
    async for transaction in write_transactions():
        async with transaction:
            await _suppress(target.company_id, target.email, "unsubscribe", UNSUBSCRIBE_SOURCE, now)
            if target.contact_id is not None:
                await opt_out_contact(
                    target.client_id,
                    target.contact_id,
                    actor,
                    UNSUBSCRIBE_SOURCE,
                    UNSUBSCRIBE_WORDING,
                )
            else:
                try:
                    await set_marketing_opt_in(
                        target.company_id,
                        target.client_id,
                        False,
                        actor,
                        UNSUBSCRIBE_SOURCE,
                        wording=UNSUBSCRIBE_WORDING,
                    )
                except NotFound:  # the client was deleted since; the address stays suppressed
                    pass
            await MailingRecipient.update({MailingRecipient.unsubscribed_at: now}).where(
                MailingRecipient.id == target.recipient_id,
                MailingRecipient.unsubscribed_at.is_null(),
            )
    return target


async def opt_out_contact(
    client_id: int, contact_id: int, actor: Actor, source: str, wording: str
) -> bool:
    """Turns off a billing or other contact's own marketing consent, with a consent record
    naming the contact, inside the caller's write transaction. Whether anything changed (a
    contact already opted out, or since deleted, gets no record)."""
    changed = (
        await Contact.update({Contact.marketing_opt_in: False})
        .where(
            Contact.id == contact_id,
            Contact.client == client_id,
            Contact.contact_type.is_in(["billing", "other"]),
            Contact.marketing_opt_in.eq(True),
        )
        .returning(Contact.id)
    )
    if changed:
        await record_consent(client_id, False, actor, source, wording, contacts=[contact_id])
    return bool(changed)


# --- suppressions ---------------------------------------------------------------------------


async def _suppress(company_id: int, email: str, reason: str, source: str, at: datetime) -> None:
    """Adds or renews the address's suppression. A bounce stays a bounce; a renewed unsubscribe
    counts from now (it again outranks an earlier opt-in)."""
    await Suppression.raw(
        "INSERT INTO mailer_suppression (company, email, reason, source, created_at) "
        "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (company, email) DO UPDATE SET "
        "reason = CASE WHEN mailer_suppression.reason = 'bounce' THEN 'bounce' "
        "ELSE excluded.reason END, source = excluded.source, created_at = excluded.created_at",
        company_id,
        email.lower(),
        reason,
        source[:50],
        at,
    )


# A suppression kept by the address's hash alone: "sha256:" and the hex SHA-256 of the
# lower-case address (the form suppression_clause compares with).
ERASED_PREFIX = "sha256:"
ERASURE_SOURCE = "erasure"


def erased_form(email: str) -> str:
    return ERASED_PREFIX + hashlib.sha256(email.lower().encode()).hexdigest()


async def forget_client(
    company_id: int, client_id: int, emails: Sequence[str], actor: Actor
) -> None:
    """The mass mailer's part of a client's erasure (portal.privacy, inside its transaction):
    each of the addresses its contacts and logins had stays suppressed for the company's
    marketing mail by its hash alone (a bounce stays a bounce; a suppression of the address as
    it is becomes its hash), and the client's recipient rows keep no address or server answer
    (a mailing's rows and counts stay)."""
    addresses = sorted({email.lower() for email in emails if email})
    if addresses:
        bounced = {
            row["email"]
            for row in await Suppression.select(Suppression.email).where(
                Suppression.company == company_id,
                Suppression.email.is_in(addresses),
                Suppression.reason == "bounce",
            )
        }
        await Suppression.delete().where(
            Suppression.company == company_id, Suppression.email.is_in(addresses)
        )
        now = datetime.now(UTC)
        for address in addresses:
            reason = "bounce" if address in bounced else "unsubscribe"
            source = f"{ERASURE_SOURCE}:{actor.label}"
            await _suppress(company_id, erased_form(address), reason, source, now)
    await MailingRecipient.raw(
        "UPDATE mailer_recipient SET email = 'erased-' || id || '@invalid', error = '' "
        "WHERE client = {}",
        client_id,
    )


@dataclass(frozen=True)
class SuppressResult:
    suppressed: int
    clients_opted_out: int


MAX_SUPPRESS_BATCH = 1_000


async def suppress_addresses(
    company_id: int, emails: list[str], reason: str, actor: Actor, source: str
) -> SuppressResult:
    """Unsubscribes or bounces reported from outside (e.g. an external mailer through the API):
    each address is suppressed for the company, and every client of the company with it as
    primary address is opted out with a consent record, as is every billing or other contact
    with it that had opted in itself (those are not counted in `clients_opted_out`). All or
    nothing."""
    actor.require(MAILER_SEND)
    if reason not in {"unsubscribe", "bounce"}:
        raise ValidationError({"reason": "The reason is unsubscribe or bounce."})
    if not emails:
        raise ValidationError({"emails": "Give at least one address."})
    if len(emails) > MAX_SUPPRESS_BATCH:
        raise ValidationError({"emails": f"At most {MAX_SUPPRESS_BATCH} addresses at once."})
    normalised: list[str] = []
    invalid = []
    for email in emails:
        clean = reported_address(email.strip()) if isinstance(email, str) else None
        if clean is None:
            invalid.append(email)
        else:
            normalised.append(clean)
    if invalid:
        shown = ", ".join(repr(e)[:80] for e in invalid[:5])
        raise ValidationError({"emails": f"Not valid email addresses: {shown}."})
    unique = sorted(set(normalised))
    now = datetime.now(UTC)
    opted_out = 0
    async for transaction in write_transactions():
        async with transaction:
            for email in unique:
                await _suppress(company_id, email, reason, source, now)
            clients = await MailingJob.raw(
                "SELECT DISTINCT c.id FROM client c JOIN contact ct ON ct.client = c.id "  # noqa: S608 - placeholders and fixed SQL only
                "AND ct.contact_type = 'primary' WHERE c.company = {} AND c.marketing_opt_in = {} "
                f"AND lower(ct.email) IN ({placeholders(len(unique))})",
                company_id,
                True,
                *unique,
            )
            for row in clients:
                if await set_marketing_opt_in(
                    company_id,
                    row["id"],
                    False,
                    actor,
                    source,
                    wording=f"Reported as {reason} by an external mailer",
                ):
                    opted_out += 1
            contacts = await MailingJob.raw(
                "SELECT oc.id, oc.client FROM contact oc JOIN client c ON c.id = oc.client "  # noqa: S608 - placeholders and fixed SQL only
                "WHERE c.company = {} AND oc.contact_type IN ('billing', 'other') "
                "AND oc.marketing_opt_in = {} "
                f"AND lower(oc.email) IN ({placeholders(len(unique))})",
                company_id,
                True,
                *unique,
            )
            for row in contacts:
                await opt_out_contact(
                    row["client"],
                    row["id"],
                    actor,
                    source,
                    f"Reported as {reason} by an external mailer",
                )
    return SuppressResult(suppressed=len(unique), clients_opted_out=opted_out)


# --- mailings -------------------------------------------------------------------------------


PREVIEW_CHOICES = 20  # recipients the preview can show the message to


async def sample_recipients(company_id: int, mailing_filter: MailingFilter) -> list[dict]:
    """The first recipients the mailing would reach (lowest addresses), for the preview, with
    their addresses as typed."""
    found: list[dict] = []
    async for row in iter_recipients(company_id, mailing_filter, page_size=PREVIEW_CHOICES):
        found.append({**row, "email": row["address"] or row["email"]})
        if len(found) == PREVIEW_CHOICES:
            break
    return found


@dataclass(frozen=True)
class MailPreview:
    count: int  # recipients in all
    recipients: list[dict]  # the first few, to choose whom the preview shows the message to
    chosen: dict | None  # the one it shows (the first, unless another was chosen)
    rendered: RenderedMessage | None


async def preview(
    company_id: int, mailing_filter: MailingFilter, compose: Compose, shown_to: str = ""
) -> MailPreview:
    """How many the mailing reaches, and its message as one of the first of them (`shown_to`,
    an address, else the first) gets it. ValidationError when the filter or the templates have
    problems; the templates are rendered once for real, so a field used wrongly is found here
    and not while sending."""
    errors = check_filter(mailing_filter)
    compiled, compose_errors = await compile_off_loop(compose, mailing_filter.kind)
    errors.update(compose_errors)
    if errors:
        raise ValidationError(errors)
    assert compiled is not None
    async with read_transaction():
        count = await count_recipients(company_id, mailing_filter)
        recipients = await sample_recipients(company_id, mailing_filter)
    chosen = next((r for r in recipients if r["email"] == shown_to), None) or next(
        iter(recipients), None
    )
    if chosen is None:
        return MailPreview(count, [], None, None)
    company = await get_company(company_id)
    url = (
        f"{get_settings().base_url}/unsubscribe/(link for each recipient)"
        if mailing_filter.kind == "marketing"
        else None
    )
    rendered = await render_off_loop(compiled, template_context(chosen, company["name"], url))
    return MailPreview(count, recipients, chosen, rendered)


async def send_test(company_id: int, shown: MailPreview, to: str, actor: Actor) -> None:
    """The previewed message, as its chosen recipient would get it, to `to` (the staff member
    who asked), marked as a test in its subject; logged in the outbox like any message."""
    actor.require(MAILER_COMPOSE)
    assert shown.rendered is not None and shown.chosen is not None
    company = await get_company(company_id)
    await mail.send(
        company_id,
        company["name"],
        mail.Mail(
            to=to,
            subject=f"[Test] {shown.rendered.subject}",
            body_text=shown.rendered.body_text,
            kind="mailing_test",
        ),
    )


NO_RECIPIENTS = "No client matches this filter, so there is nothing to send."


# What create_job writes of each recipient row, in this order.
QUEUED_COLUMNS = (
    MailingRecipient.job,
    MailingRecipient.client,
    MailingRecipient.contact,
    MailingRecipient.email,
    MailingRecipient.status,
    MailingRecipient.attempts,
    MailingRecipient.logged,
    MailingRecipient.error,
    MailingRecipient.unsubscribe_token,
)


async def create_job(
    company_id: int, actor: Actor, mailing_filter: MailingFilter, compose: Compose
) -> int:
    """Queues a mailing: the job and one pending row per address, in one transaction, for the
    worker to send. ValidationError for a bad filter or template, or when nobody matches."""
    actor.require(MAILER_SEND)
    shown = await preview(company_id, mailing_filter, compose)
    if not shown.count or shown.chosen is None:
        raise ValidationError({"": NO_RECIPIENTS})
    sql, params = await candidates_sql(company_id, mailing_filter)
    async for transaction in write_transactions():
        async with transaction:
            rows = await MailingJob.insert(
                MailingJob(
                    company=company_id,
                    kind=mailing_filter.kind,
                    status="queued",
                    filter=mailing_filter.to_json(),
                    from_name=compose.from_name.strip(),
                    from_address=compose.from_address.strip(),
                    subject=compose.subject,
                    body_text=compose.body_text,
                    body_html=compose.body_html,
                    created_by=(actor.name or actor.kind)[:100],
                    created_at=datetime.now(UTC),
                )
            ).returning(MailingJob.id)
            job_id = rows[0]["id"]
            # One row per address (a primary contact first, then the lowest client ID), each
            # with its own token.
            recipients = await MailingRecipient.raw(
                "SELECT r.client, r.contact, r.email FROM (SELECT cand.client, cand.contact, "  # noqa: S608 - fixed SQL and placeholders
                f"cand.email, {ONE_PER_ADDRESS} AS n FROM ({sql}) cand) r WHERE r.n = 1",
                *params,
            )
            await copy_rows(
                MailingRecipient,
                QUEUED_COLUMNS,
                [
                    (job_id, row["client"], row["contact"], row["email"], "pending", 0, False, "")
                    + (new_unsubscribe_token(),)
                    for row in recipients
                ],
            )
            total = len(recipients)
            if not total:
                raise ValidationError({"": NO_RECIPIENTS})  # rolls the job back
            await MailingJob.update({MailingJob.total: total}).where(MailingJob.id == job_id)
            await activity.record(
                company_id,
                actor,
                "mailer",
                f"Queued the {mailing_filter.kind} mailing “{compose.subject}” "
                f"to {total} addresses.",
            )
    return job_id


async def get_job(company_id: int, job_id: int) -> dict:
    return await company_row(MailingJob, company_id, job_id)


async def list_jobs(company_id: int, limit: int = 50) -> list[dict]:
    return (
        await MailingJob.select(
            MailingJob.id,
            MailingJob.kind,
            MailingJob.status,
            MailingJob.subject,
            MailingJob.total,
            MailingJob.created_at,
            MailingJob.finished_at,
        )
        .where(MailingJob.company == company_id)
        .order_by(MailingJob.id, ascending=False)
        .limit(limit)
    )


@dataclass(frozen=True)
class Progress:
    job_id: int
    status: str
    total: int
    pending: int
    sending: int
    sent: int
    failed: int
    skipped: int

    @property
    def finished(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.finished * 100 // self.total)

    @property
    def done(self) -> bool:
        return self.status in {"done", "cancelled"}


async def job_progress(company_id: int, job_id: int) -> Progress:
    async with read_transaction():
        job = await get_job(company_id, job_id)
        rows = await MailingRecipient.raw(
            "SELECT status, count(*) AS n FROM mailer_recipient WHERE job = {} GROUP BY status",
            job_id,
        )
    counts = {row["status"]: row["n"] for row in rows}
    return Progress(
        job_id=job_id,
        status=job["status"],
        total=job["total"],
        pending=counts.get("pending", 0),
        sending=counts.get("sending", 0),
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0),
    )


async def job_problems(company_id: int, job_id: int, limit: int = 50) -> list[dict]:
    """Failed and skipped recipients, with the reason."""
    await get_job(company_id, job_id)
    return (
        await MailingRecipient.select(
            MailingRecipient.email,
            MailingRecipient.client,
            MailingRecipient.status,
            MailingRecipient.error,
        )
        .where(
            MailingRecipient.job == job_id,
            MailingRecipient.status.is_in(["failed", "skipped"]),
        )
        .order_by(MailingRecipient.id)
        .limit(limit)
    )


async def cancel_job(company_id: int, job_id: int, actor: Actor) -> None:
    """Stops a mailing: what is not sent yet is skipped. Messages already with the mail server
    go on."""
    actor.require(MAILER_SEND)
    job = await get_job(company_id, job_id)
    async for transaction in write_transactions():
        async with transaction:
            await MailingRecipient.update(
                {MailingRecipient.status: "skipped", MailingRecipient.error: "Mailing cancelled."}
            ).where(MailingRecipient.job == job_id, MailingRecipient.status == "pending")
            await MailingJob.update(
                {MailingJob.status: "cancelled", MailingJob.finished_at: datetime.now(UTC)}
            ).where(MailingJob.id == job_id, MailingJob.status.is_in(["queued", "sending"]))
            await activity.record(
                company_id, actor, "mailer", f"Cancelled the mailing “{job['subject']}”."
            )


# --- opted-in clients and contacts, for external mailers ------------------------------------

OPTED_IN_AT = (
    # The latest opt-in of the person in the consent log: the client's own for its primary
    # contact, the contact's for a billing or other contact.
    "CASE WHEN cand.contact IS NULL THEN (SELECT max(e.at) FROM consent_event e "
    "WHERE e.client = cand.client AND e.contact IS NULL AND e.opted_in = {}) "
    "ELSE (SELECT max(e.at) FROM consent_event e WHERE e.client = cand.client "
    "AND e.contact = cand.contact AND e.opted_in = {}) END"
)


async def opted_in_page(
    company_id: int, mailing_filter: MailingFilter, after_id: int, limit: int
) -> tuple[list[dict], int | None]:
    """A page of the people the filter reaches as a marketing mailing would, before the one-
    per-address rule (the primary contacts of opted-in clients, and the billing and other
    contacts who opted in themselves), of the clients with an id above `after_id`: by client
    id, the primary contact first, with the time of each one's latest opt-in; and the cursor
    of the next page (None on the last). A page ends between two clients, so a client's people
    are never split across pages: it holds at most `limit` rows, unless a single client alone
    has more (then the page is that client's)."""
    f = MailingFilter(**{**asdict(mailing_filter), "kind": "marketing"})
    sql, params = await candidates_sql(company_id, f, after_client=after_id)

    async def fetch(where: str, limit_sql: str, *extra_params: Any) -> list[dict]:
        rows = await MailingJob.raw(
            "SELECT cand.client AS id, cand.contact AS contact_id, cand.contact_type, "  # noqa: S608 - placeholders and fixed SQL only
            "cand.address AS email, cand.first_name, cand.last_name, c.language, cand.country, "
            f"g.id AS group_id, g.name AS group_name, {OPTED_IN_AT} AS opted_in_at "
            f"FROM ({sql}) cand JOIN client c ON c.id = cand.client "
            'JOIN client_group g ON g.id = c."group" '
            f"{where} ORDER BY cand.client, cand.pref, cand.contact {limit_sql}",
            True,
            True,
            *params,
            *extra_params,
        )
        for row in rows:
            row["opted_in_at"] = _as_datetime(row["opted_in_at"])
        return rows

    async with read_transaction():
        rows = await fetch("", "LIMIT {}", limit + 1)
        if len(rows) <= limit:
            return rows, None
        cut = rows[limit]["id"]  # the first client not wholly on the page
        page = [row for row in rows[:limit] if row["id"] != cut]
        if not page:  # one client with more than `limit` people: the page is all of them
            page = await fetch("WHERE cand.client = {}", "", cut)
    return page, page[-1]["id"]


def _as_datetime(value: Any) -> datetime | None:
    """SQLite hands back computed timestamps as text."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
