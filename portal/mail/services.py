"""Sending mail: every message is logged first, then handed to SMTP (PORTAL_SMTP_URL) or, with
no SMTP configured, kept in the outbox that staff read in the admin area."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from portal.companies.services import MailIdentity, mail_identity
from portal.core.actors import Actor
from portal.core.config import TEMPLATES_DIR, get_settings
from portal.core.db import write_transactions
from portal.core.i18n import translations
from portal.core.lookups import company_row
from portal.core.permissions import all_permissions
from portal.core.placeholders import placeholders
from portal.mail.tables import MailMessage

SMTP_TIMEOUT_SECONDS = 20


# Kinds of mail that carry a one-time link (a password reset, an invitation, a verification):
# whoever holds the link acts as its recipient, so the log shows it only in the outbox, while
# the message waits there to be passed on by hand, and never hands it on (a data export).
STAFF_LINK_KINDS = frozenset({"staff_invitation", "staff_password_reset"})
ONE_TIME_LINK_KINDS = (
    frozenset({"password_reset", "password_setup", "invitation", "email_verification"})
    | STAFF_LINK_KINDS
)
WITHHELD_BODY = "(This message carried a one-time link; its text is not given out.)"


def shareable_body(kind: str, body_text: str) -> str:
    """A logged message's text as it may be shown to anyone but the outbox's readers."""
    return WITHHELD_BODY if kind in ONE_TIME_LINK_KINDS else body_text


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body_text: str
    kind: str
    client_id: int | None = None


def _single_line(value: str) -> str:
    """Header values never carry line breaks (no header injection)."""
    return " ".join(value.splitlines()).strip()


@cache
def _environment() -> SandboxedEnvironment:
    # Plain-text mail (.txt) is not HTML-escaped, the HTML part (.html) is; sandboxed, since
    # company names and the like flow in.
    environment = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "mail"),
        extensions=["jinja2.ext.i18n"],
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
    )
    environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return environment


def render(template: str, language: str, **context: object) -> tuple[str, str]:
    """(subject, body) of a mail template in `language`. The template's first line is the
    subject; a blank line separates it from the body."""
    catalog = translations(language)
    environment = _environment().overlay()
    environment.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    text = environment.get_template(template).render(**context)
    subject, _, body = text.partition("\n\n")
    return _single_line(subject), body.strip() + "\n"


def sender(identity: MailIdentity) -> tuple[str, str]:
    """(name, address) the company's mail comes from: its sender when set, else its name and
    the portal's PORTAL_MAIL_FROM."""
    name = identity.sender_name or identity.name
    return _single_line(name), identity.sender_email or get_settings().mail_from


def html_header(identity: MailIdentity) -> Markup:
    """The company's logo and name, at the top of the HTML part of its messages."""
    logo = f"{get_settings().base_url}{identity.logo_url}" if identity.logo_url else None
    header = _environment().get_template("_header.html")
    return Markup(header.render(name=identity.name, logo_url=logo))  # noqa: S704 - autoescaped


def with_header(html: str, header: str) -> str:
    """An HTML body with the header first in it (after <body> when it has one). Both are HTML
    already: joined as text (a Markup header would escape the body)."""
    header = str(header)
    body = re.search(r"<body\b[^>]*>", html, re.IGNORECASE)
    if body is None:
        return header + html
    return html[: body.end()] + header + html[body.end() :]


_URL = re.compile(r"https?://[^\s<>\"']+")


def _html_paragraphs(text: str) -> list[Markup]:
    """A text/plain body as HTML paragraphs: escaped, line breaks kept, links clickable."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = []
        for line in block.splitlines():
            parts, last = [], 0
            for match in _URL.finditer(line):
                parts += [escape(line[last : match.start()]), _link(match.group(0))]
                last = match.end()
            parts.append(escape(line[last:]))
            lines.append(Markup("").join(parts))
        paragraphs.append(Markup("<br>\n").join(lines))
    return paragraphs


def _link(url: str) -> Markup:
    return Markup('<a href="{0}">{0}</a>').format(url)


def html_body(identity: MailIdentity, subject: str, body_text: str) -> str:
    """The HTML alternative of a text/plain message: the company's header, then the text."""
    return (
        _environment()
        .get_template("message.html")
        .render(
            subject=subject,
            header=html_header(identity),
            paragraphs=_html_paragraphs(body_text),
        )
    )


async def send(company_id: int, company_name: str, mail: Mail) -> int:
    """Log the message, then deliver it. Returns the message's id; a delivery failure is
    recorded on the message, not raised: the action that sent it has already happened. It
    comes from the company's sender (see `sender`; `company_name` names it when the company
    has no sender name) and carries an HTML part with the company's logo and name."""
    identity = replace(await mail_identity(company_id), name=company_name)
    from_address = formataddr(sender(identity))
    # A transaction of its own: a client deleted since the action that mails it is NotFound.
    async for transaction in write_transactions():
        async with transaction:
            rows = await MailMessage.insert(
                MailMessage(
                    company=company_id,
                    client=mail.client_id,
                    kind=mail.kind,
                    from_address=from_address,
                    to_address=_single_line(mail.to),
                    subject=_single_line(mail.subject)[:255],
                    body_text=mail.body_text,
                )
            ).returning(MailMessage.id)
    message_id = rows[0]["id"]
    await _deliver(message_id, from_address, mail, identity)
    return message_id


def smtp_options(url: str) -> dict[str, Any]:
    """How aiosmtplib reaches the SMTP server of PORTAL_SMTP_URL (`smtp://`, `smtp+starttls://`
    or `smtps://`, with `user:password@` for a server that wants a login)."""
    smtp = urlsplit(url)
    return {
        "hostname": smtp.hostname or "127.0.0.1",
        "port": smtp.port or 25,
        "username": smtp.username,
        "password": smtp.password,
        "start_tls": smtp.scheme == "smtp+starttls" or None,
        "use_tls": smtp.scheme == "smtps",
        "timeout": SMTP_TIMEOUT_SECONDS,
    }


async def _deliver(message_id: int, from_address: str, mail: Mail, identity: MailIdentity) -> None:
    settings = get_settings()
    if not settings.smtp_url:
        await MailMessage.update({MailMessage.status: "outbox"}).where(MailMessage.id == message_id)
        return
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = _single_line(mail.to)
    message["Subject"] = _single_line(mail.subject)
    domain = sender(identity)[1].rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain or None)
    message.set_content(mail.body_text)
    message.add_alternative(html_body(identity, mail.subject, mail.body_text), subtype="html")
    try:
        await aiosmtplib.send(message, **smtp_options(settings.smtp_url))
    except (aiosmtplib.SMTPException, OSError) as error:
        await MailMessage.update(
            {MailMessage.status: "failed", MailMessage.error: str(error)[:1000]}
        ).where(MailMessage.id == message_id)
        return
    await MailMessage.update(
        {MailMessage.status: "sent", MailMessage.sent_at: datetime.now(UTC)}
    ).where(MailMessage.id == message_id)


# What each kind of message is, for staff; the others read well from their name.
KIND_WORDS = {
    "client_email": "Email from staff",
    "marketing": "Marketing mailing",
    "service": "Service mailing",
}


def kind_words(kind: str) -> str:
    """A message's kind ("password_reset") as staff read it ("Password reset")."""
    return KIND_WORDS.get(kind) or kind.replace("_", " ").capitalize()


def _listed(*where: Any, limit: int, offset: int, also: tuple = ()) -> Any:
    """A page of messages, newest first, with what a list shows of each (and `also`)."""
    return (
        MailMessage.select(
            MailMessage.id,
            MailMessage.to_address,
            MailMessage.subject,
            MailMessage.kind,
            MailMessage.status,
            MailMessage.created_at,
            *also,
        )
        .where(*where)
        .order_by(MailMessage.id, ascending=False)
        .limit(limit)
        .offset(offset)
    )


async def list_messages(company_id: int, *, limit: int = 50, offset: int = 0) -> list[dict]:
    rows = await _listed(
        MailMessage.company == company_id, limit=limit, offset=offset, also=(MailMessage.client,)
    )
    return [{**row, "kind_words": kind_words(row["kind"])} for row in rows]


async def count_messages(company_id: int) -> int:
    return await MailMessage.count().where(MailMessage.company == company_id)


async def get_message(company_id: int, message_id: int, reader: Actor) -> dict:
    """A message of the outbox, as `reader` may read it. One that carried a one-time link shows
    its text only while it waits there to be passed on by hand (no SMTP): once sent, the link
    is its recipient's. A staff member's link (a reset, an invitation) shows only to readers
    who hold every permission: through it, its holder works as that staff member."""
    message = await company_row(MailMessage, company_id, message_id)
    waiting = message["status"] == "outbox"
    holds_everything = reader.permissions is None or reader.permissions >= all_permissions()
    if not waiting or (message["kind"] in STAFF_LINK_KINDS and not holds_everything):
        message["body_text"] = shareable_body(message["kind"], message["body_text"])
    return message


@dataclass(frozen=True)
class LoggedMail:
    """A message sent (or kept in the outbox) by someone else's sender, e.g. a mass mailing."""

    client_id: int | None
    kind: str
    from_address: str
    to: str
    subject: str
    body_text: str
    status: str  # sent | outbox | failed
    sent_at: datetime | None


LOG_COLUMNS = (
    "company, client, kind, from_address, to_address, subject, body_text, status, error, "
    "created_at, sent_at"
)
LOG_ROWS_PER_STATEMENT = 2_500  # 11 parameters a row: below SQLite's 32,766


async def log_messages(company_id: int, messages: list[LoggedMail]) -> None:
    """Adds many messages to the mail log at once, in multi-row INSERTs: a mass mailing logs
    every message it sends, and one INSERT per message would cost more than the sending."""
    now = datetime.now(UTC)
    row = f"({placeholders(11)})"
    for start in range(0, len(messages), LOG_ROWS_PER_STATEMENT):
        chunk = messages[start : start + LOG_ROWS_PER_STATEMENT]
        params: list[object] = []
        for mail in chunk:
            params += [
                company_id,
                mail.client_id,
                mail.kind,
                _single_line(mail.from_address),
                _single_line(mail.to),
                _single_line(mail.subject)[:255],
                mail.body_text,
                mail.status,
                "",
                now,
                mail.sent_at,
            ]
        await MailMessage.raw(
            # Column names and placeholders only: the values travel as parameters.
            f"INSERT INTO mail_message ({LOG_COLUMNS}) VALUES {', '.join([row] * len(chunk))}",  # noqa: S608
            *params,
        )


async def count_client_messages(company_id: int, client_id: int) -> int:
    return await MailMessage.count().where(
        MailMessage.company == company_id, MailMessage.client == client_id
    )


async def list_client_messages(
    company_id: int, client_id: int, *, limit: int = 10, offset: int = 0
) -> list[dict]:
    """The client's mail log, newest first."""
    return await _listed(
        MailMessage.company == company_id,
        MailMessage.client == client_id,
        limit=limit,
        offset=offset,
    )
