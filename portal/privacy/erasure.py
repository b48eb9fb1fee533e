"""Erasure by anonymisation (GDPR Art. 17): a client's personal data replaced in one write
transaction, while what the law makes the company keep stays, under the anonymised name.

What anonymising a client does:

- its contacts (the primary one and every other) are renamed "Anonymised Client" / "Anonymised
  Contact", their email becomes `anonymised-<random>@invalid`, their company, title, address,
  city, state and zip are emptied (the country stays: it decides the tax of the invoices kept);
  their phone numbers, the client's custom values and tax ID, its staff notes and invitations go;
- the logins that belonged to this account alone are deleted with their sessions, second
  factors, password and verification links (a user of other accounts too keeps its login and
  only leaves this one);
- marketing consent is withdrawn (an opt-out in the consent log, for the client and each
  contact that had opted in), and the plugins forget what they keep of the person (the mass
  mailer suppresses the addresses for marketing by their hash alone, see
  portal.plugins.erasure_handlers);
- the mail log keeps its messages to the client without address, subject or body;
- older lines of the client's history keep their fields (a name or address in a field's name
  is redacted) and lose their values, but for fields that never hold personal data (status,
  group, currency, billing lines…); the company's activity log lines about the client are
  redacted the same way; exports of its data go with their files;
- invoices, transactions and services stay: invoices are addressed to the billing (or primary)
  contact, so they now read "Anonymised Client";
- one line in the history ("Client" → "anonymised"), one in the activity log, and the erasure in
  the data requests log, whose unique index refuses a second one.

Delete Client (portal.clients.lifecycle) stays as it was: it removes everything.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from piccolo.table import Table

from portal import plugins
from portal.activity import services as activity
from portal.activity.tables import ActivityEvent
from portal.client_area.services import ClientUser
from portal.client_area.services import confirm_password as confirm_client_password
from portal.client_groups.services import custom_values
from portal.clients import audit, lifecycle, users
from portal.clients.services import record_consent
from portal.clients.tables import (
    AccountInvitation,
    AccountMember,
    AccountUser,
    Client,
    ClientAudit,
    ClientNote,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)
from portal.core.actors import Actor
from portal.core.db import violated_unique_index, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.i18n import N_
from portal.core.ids import is_row_id
from portal.core.lookups import company_row
from portal.core.permissions import CLIENTS_PRIVACY, Forbidden
from portal.core.placeholders import placeholders
from portal.core.unique import taken_as_invalid
from portal.jobs import services as jobs
from portal.mail.tables import MailMessage
from portal.privacy import services
from portal.privacy.services import ANONYMISED_REQUESTER, RequestLine
from portal.privacy.tables import DataRequest
from portal.security import logins

FIRST_NAME = "Anonymised"
LAST_NAMES = {"primary": "Client"}  # others: "Contact"
REDACTED = "(anonymised)"
MAIL_ADDRESS = "anonymised@invalid"
REASON = Field("reason", "Reason", 500, required=True)
WRONG_PASSWORD = "That is not your password. Nothing was changed."  # noqa: S105 - a message
CONSENT_SOURCE = "anonymisation"
CONSENT_WORDING = "Personal data erased (the client was anonymised)"
# The line of the client's history, as the events of portal.clients.audit read it.
AUDIT_FIELD, AUDIT_VALUE = "Client", "anonymised"
# Fields of history lines whose values never hold personal data: they stay as they were.
KEPT_HISTORY_FIELDS = frozenset(
    {
        "Client",
        "Status",
        "Client Group",
        "Preferred Currency",
        "Language",
        "Tax Exempt",
        "Opt-in to marketing emails",
        "Invoice",
        "Payment",
        "Credit",
        "Service",
        "Password",
        "Note sticky",
    }
)
ALREADY_ASKED = N_(
    "You have already asked for your account to be erased. The provider will answer soon."
)
OWNER_ONLY = N_("Only the account's owner can ask for it to be erased.")


class AlreadyAnonymised(ValidationError):
    """The client was anonymised before: nothing was changed."""

    def __init__(self, line: RequestLine) -> None:
        when = line.finished_at or line.requested_at
        super().__init__(
            {
                "": f"Client {line.client_code} was already anonymised on "
                f"{when:%Y-%m-%d} by {line.requested_by}. Nothing was changed."
            }
        )


@dataclass(frozen=True)
class Redactor:
    """Replaces the personal values it was made with (names, addresses, emails, numbers…)
    wherever they stand as words in a text (a line of a log), whatever their case."""

    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        words = sorted({v.strip() for v in values if len(v.strip()) >= 2}, key=len, reverse=True)
        if not words:
            return cls(None)
        alternatives = "|".join(re.escape(word) for word in words)
        return cls(re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE))

    def text(self, value: str) -> str:
        return self.pattern.sub(REDACTED, value) if self.pattern and value else value


def check_reason(reason: str) -> str:
    reason = " ".join(reason.replace("\x00", "").split())
    errors: dict[str, str] = {}
    REASON.check(errors, reason)
    if errors:
        raise ValidationError(errors)
    return reason


async def _client(company_id: int, client_id: int) -> dict:
    return await company_row(Client, company_id, client_id, Client.id, Client.code)


async def anonymise_client(company_id: int, client_id: int, actor: Actor, reason: str) -> str:
    """Anonymises the client (see the module) in one write transaction; returns its client ID
    (code). AlreadyAnonymised when it was before, NotFound for another company's client."""
    actor.require(CLIENTS_PRIVACY)
    reason = check_reason(reason)
    await _client(company_id, client_id)
    try:
        async for transaction in write_transactions():
            async with transaction:
                code = await anonymise_now(company_id, client_id, actor, reason)
    except Exception as error:
        if violated_unique_index(error) == "data_request_anonymised":
            # Another anonymisation committed between the check and the insert.
            if line := await services.anonymisation(company_id, client_id):
                raise AlreadyAnonymised(line) from None
        raise
    return code


async def anonymise_confirmed(
    company_id: int, client_id: int, reason: str, *, staff_id: int, password: str, actor: Actor
) -> str:
    """Anonymise Client from the profile: once the staff member has confirmed with their own
    password (a wrong one changes nothing; repeated wrong ones are throttled like logins)."""
    actor.require(CLIENTS_PRIVACY)
    reason = check_reason(reason)
    await _client(company_id, client_id)
    if line := await services.anonymisation(company_id, client_id):
        raise AlreadyAnonymised(line)
    await lifecycle.confirm_password(staff_id, password, actor.address, WRONG_PASSWORD)
    return await anonymise_client(company_id, client_id, actor, reason)


@dataclass
class _Person:
    """What the transaction read of the client before changing it."""

    code: str
    contacts: list[dict]
    numbers: list[dict]
    members: list[dict]  # its users, each with `elsewhere`: how many other accounts it is in
    invitations: list[dict]
    custom: dict[int, str]
    tax_id: str
    history: list[dict]
    mail_to: list[str]

    @property
    def leaving_users(self) -> list[dict]:
        """The logins of this account alone: deleted with it."""
        return [member for member in self.members if not member["elsewhere"]]

    @property
    def erased_emails(self) -> list[str]:
        """The addresses of the person erased: its contacts' and its own logins'."""
        emails = [c["email"] for c in self.contacts] + [u["email"] for u in self.leaving_users]
        return sorted({email.lower() for email in emails if email})

    def redactor(self) -> Redactor:
        values: list[str] = [self.tax_id, *self.custom.values(), *self.mail_to]
        for contact in self.contacts:
            values += [contact[name] for name in ("first_name", "last_name", "company", "title")]
            values += [contact[name] for name in ("address1", "address2", "city", "zip")]
            values += [contact["email"], f"{contact['first_name']} {contact['last_name']}"]
        values += [n["number"] for n in self.numbers] + [n["extension"] for n in self.numbers]
        values += [m[name] for m in self.members for name in ("username", "email", "name")]
        values += [invitation["email"] for invitation in self.invitations]
        for line in self.history:
            if line["field"] not in KEPT_HISTORY_FIELDS:
                values += [line["old_value"], line["new_value"]]
        return Redactor.of(values)


async def _read_person(company_id: int, client_id: int, code: str, tax_id: str) -> _Person:
    contacts = await Contact.select().where(Contact.client == client_id).order_by(Contact.id)
    contact_ids = [contact["id"] for contact in contacts] or [0]
    members = await AccountUser.raw(
        "SELECT u.id, u.username, u.email, u.name, (SELECT count(*) FROM account_member o "
        'WHERE o."user" = u.id AND o.client <> {}) AS elsewhere FROM account_user u '
        'JOIN account_member m ON m."user" = u.id WHERE m.client = {}',
        client_id,
        client_id,
    )
    return _Person(
        code=code,
        contacts=contacts,
        numbers=await ContactNumber.select(ContactNumber.number, ContactNumber.extension).where(
            ContactNumber.contact.is_in(contact_ids)
        ),
        members=members,
        invitations=await AccountInvitation.select(AccountInvitation.email).where(
            AccountInvitation.client == client_id
        ),
        custom=await custom_values(client_id),
        tax_id=tax_id,
        history=await ClientAudit.select().where(
            ClientAudit.company == company_id, ClientAudit.client_id == client_id
        ),
        mail_to=[
            row["to_address"]
            for row in await MailMessage.select(MailMessage.to_address).where(
                MailMessage.client == client_id
            )
        ],
    )


async def anonymise_now(company_id: int, client_id: int, actor: Actor, reason: str) -> str:
    """Anonymises the client inside the caller's write transaction (a retention run's step, or
    anonymise_client's own); returns its client ID (code)."""
    row = await company_row(Client, company_id, client_id, Client.code, Client.tax_id, lock=True)
    if line := await services.anonymisation(company_id, client_id):
        raise AlreadyAnonymised(line)
    person = await _read_person(company_id, client_id, row["code"], row["tax_id"])
    redactor = person.redactor()
    now = datetime.now(UTC)

    await _withdraw_consent(client_id, person.contacts, actor)
    for contact in person.contacts:
        await Contact.update(
            {
                Contact.first_name: FIRST_NAME,
                Contact.last_name: LAST_NAMES.get(contact["contact_type"], "Contact"),
                Contact.company: "",
                Contact.title: "",
                Contact.address1: "",
                Contact.address2: "",
                Contact.city: "",
                Contact.state: "",
                Contact.zip: "",
                Contact.email: f"anonymised-{secrets.token_hex(6)}@invalid",
                Contact.marketing_opt_in: False,
                Contact.login: None,
            }
        ).where(Contact.id == contact["id"])
    contact_ids = [contact["id"] for contact in person.contacts] or [0]
    await ContactNumber.delete().where(ContactNumber.contact.is_in(contact_ids))
    await CustomFieldValue.delete().where(CustomFieldValue.client == client_id)
    notes = await ClientNote.delete().where(ClientNote.client == client_id).returning(ClientNote.id)
    await AccountInvitation.delete().where(AccountInvitation.client == client_id)
    await AccountMember.delete().where(AccountMember.client == client_id)
    leaving = [user["id"] for user in person.leaving_users]
    await users.drop_orphan_logins(leaving)
    sessions = await logins.forget("client", leaving)
    await Client.update(
        {
            Client.tax_id: "",
            Client.marketing_opt_in: False,
            Client.version: Client.version + 1,
            Client.updated_at: now,
        }
    ).where(Client.id == client_id)

    await _redact_mail(company_id, client_id, person.erased_emails)
    await _redact_history(person.history, redactor)
    await _redact_activity(company_id, client_id, redactor)
    exports = await _redact_requests(company_id, client_id, redactor)
    keys = [f"email:{email.casefold()}" for email in person.erased_emails]
    keys += [f"username:{user['username']}" for user in person.leaving_users]
    await jobs.forget(company_id, exports, keys)
    for handler in plugins.erasure_handlers():
        await handler(company_id, client_id, person.erased_emails, actor)

    details = (
        f"Anonymised: {len(person.contacts)} contacts, {len(person.numbers)} phone numbers, "
        f"{len(person.custom)} custom values, {len(notes)} notes; {len(leaving)} logins and "
        f"{sessions} sessions removed; marketing consent withdrawn. Invoices, transactions and "
        f"services kept. Reason: {reason}"
    )
    if not await _close_asked_erasure(company_id, client_id, "done", details, now):
        await services.record(
            company_id,
            "erasure",
            actor,
            client_id=client_id,
            client_code=person.code,
            status="done",
            details=details,
        )
    await audit.record(
        company_id,
        client_id,
        person.code,
        actor,
        [(AUDIT_FIELD, f"Client ID {person.code}", AUDIT_VALUE)],
        log_activity=False,
    )
    await activity.record(
        company_id, actor, "clients", f"Anonymised the client {person.code}.", client_id=client_id
    )
    return person.code


async def _close_asked_erasure(
    company_id: int,
    client_id: int,
    status: str,
    details: str,
    at: datetime,
    request_id: int | None = None,
) -> bool:
    """Closes the client's erasure request that waits for staff (the one of `request_id`, when
    given) as `status`; whether there was one."""
    where = [DataRequest.id == request_id] if request_id is not None else []
    closed = (
        await DataRequest.update(
            {DataRequest.status: status, DataRequest.finished_at: at, DataRequest.details: details}
        )
        .where(
            *where,
            DataRequest.company == company_id,
            DataRequest.client_id == client_id,
            DataRequest.kind == "erasure",
            DataRequest.status == "asked",
        )
        .returning(DataRequest.id)
    )
    return bool(closed)


async def _withdraw_consent(client_id: int, contacts: list[dict], actor: Actor) -> None:
    """An opt-out in the consent log for the client and for each contact that had opted in
    itself; the addresses consent was given from are forgotten but staff members'."""
    await record_consent(
        client_id,
        False,
        actor,
        CONSENT_SOURCE,
        CONSENT_WORDING,
        contacts=[None] + [c["id"] for c in contacts if c["marketing_opt_in"]],
        address=actor.address if actor.kind == "staff" else "",
    )
    await ConsentEvent.update({ConsentEvent.address: ""}).where(
        ConsentEvent.client == client_id, ConsentEvent.actor.not_like("staff:%")
    )


async def _redact_mail(company_id: int, client_id: int, emails: list[str]) -> None:
    """The mail log keeps that a message was sent, of what kind and when: not to whom nor
    what it said. Messages to the client's addresses that were not filed under it (a login's
    mail) are found by their address."""
    addressed = placeholders(len(emails)) or "NULL"
    await MailMessage.raw(
        "UPDATE mail_message SET to_address = {}, subject = {}, body_text = '', error = '' "  # noqa: S608 - placeholders only
        f"WHERE client = {{}} OR (company = {{}} AND lower(to_address) IN ({addressed}))",
        MAIL_ADDRESS,
        REDACTED,
        client_id,
        company_id,
        *emails,
    )


async def _rewrite(table: type[Table], line: dict[str, Any], values: dict[Any, Any]) -> None:
    """`values` over the row read as `line`, when one of them differs from what it holds."""
    if any(values[column] != line[column._meta.name] for column in values):
        await table.update(values).where(table.id == line["id"])


async def _client_lines(table: type[Table], company_id: int, client_id: int) -> list[dict]:
    """The lines of a company's log (activity, data requests) about the client."""
    return await table.select().where(table.company == company_id, table.client_id == client_id)


async def _redact_history(history: list[dict], redactor: Redactor) -> None:
    for line in history:
        kept = line["field"] in KEPT_HISTORY_FIELDS
        values = {
            ClientAudit.field: redactor.text(line["field"]),
            ClientAudit.old_value: line["old_value"] if kept or not line["old_value"] else REDACTED,
            ClientAudit.new_value: line["new_value"] if kept or not line["new_value"] else REDACTED,
            ClientAudit.address: "" if line["actor"].startswith("client") else line["address"],
        }
        await _rewrite(ClientAudit, line, values)


async def _redact_activity(company_id: int, client_id: int, redactor: Redactor) -> None:
    """The activity log's lines about the client: their sentences without the personal
    values, and the client's users no longer named nor located."""
    for line in await _client_lines(ActivityEvent, company_id, client_id):
        by_client = line["actor_kind"] == "client"
        values = {
            ActivityEvent.summary: redactor.text(line["summary"]),
            ActivityEvent.actor_name: ANONYMISED_REQUESTER if by_client else line["actor_name"],
            ActivityEvent.address: "" if by_client else line["address"],
        }
        await _rewrite(ActivityEvent, line, values)


async def _redact_requests(company_id: int, client_id: int, redactor: Redactor) -> list[int]:
    """The client's lines of the data requests log stay, their requester no longer named when
    it was a user of the account; returns the jobs of its exports (they go, with their files)."""
    lines = await _client_lines(DataRequest, company_id, client_id)
    for line in lines:
        by_client = line["requester"].startswith("client")
        values = {
            DataRequest.requested_by: ANONYMISED_REQUESTER if by_client else line["requested_by"],
            DataRequest.details: redactor.text(line["details"]),
        }
        await _rewrite(DataRequest, line, values)
    # Their files go now: their downloads are over.
    now = datetime.now(UTC)
    await DataRequest.update({DataRequest.expires_at: now}).where(
        DataRequest.company == company_id,
        DataRequest.client_id == client_id,
        DataRequest.kind == "export",
        DataRequest.expires_at > now,
    )
    return [line["job"] for line in lines if line["kind"] == "export" and line["job"]]


# --- the client's own request -------------------------------------------------------------


async def ask_for_erasure(user: ClientUser, password: str, address: str) -> int:
    """The account's owner asks for the account's personal data to be erased, confirming with
    its password: the request waits in the data requests log (and on the profile) for staff,
    who anonymise the client or decline with a reason. A second request while one waits is
    refused."""
    if not user.owner:
        raise Forbidden("account.owner")
    await confirm_client_password(user, password, address)
    actor = replace(user.actor, address=address)
    with taken_as_invalid("data_request_erasure_asked", {"": ALREADY_ASKED}):
        async for transaction in write_transactions():
            async with transaction:
                client = await company_row(Client, user.company_id, user.id, Client.code, lock=True)
                if await services.erasure_asked(user.company_id, user.id):
                    raise ValidationError({"": ALREADY_ASKED})
                request_id = await services.record(
                    user.company_id,
                    "erasure",
                    actor,
                    client_id=user.id,
                    client_code=client["code"],
                )
                await activity.record(
                    user.company_id,
                    actor,
                    "clients",
                    f"Client {client['code']} asked for its personal data to be erased.",
                    client_id=user.id,
                )
    return request_id


async def decline_erasure(
    company_id: int, client_id: int, request_id: int, reason: str, actor: Actor
) -> None:
    """Staff decline a client's request to be erased (a legal reason to keep the data, say);
    the reason is kept in the log and shown to the client."""
    actor.require(CLIENTS_PRIVACY)
    reason = check_reason(reason)
    client = await _client(company_id, client_id)
    if not is_row_id(request_id):
        raise NotFound()
    async for transaction in write_transactions():
        async with transaction:
            details = f"Declined by {actor.name or actor.label}: {reason}"
            if not await _close_asked_erasure(
                company_id, client_id, "declined", details, datetime.now(UTC), request_id
            ):
                raise NotFound()
            await activity.record(
                company_id,
                actor,
                "clients",
                f"Declined the erasure client {client['code']} asked for.",
                client_id=client_id,
            )
