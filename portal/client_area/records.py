"""What a user of the client area sees of its account's records: invoices (with whom they are
billed to), services, transactions, the emails the account was sent, its contacts, and the
marketing consent of each contact. Every function checks the user's permission in the account
first (Forbidden otherwise) and reads only the account's own rows (NotFound for anything else:
the same answer as for a record that does not exist)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from portal.billing import services as billing
from portal.client_area.services import ClientUser
from portal.client_groups.services import EffectiveSettings
from portal.clients import contacts as account_contacts
from portal.clients.fields import CONTACT_FIELDS
from portal.clients.services import get_client, set_marketing_opt_in
from portal.core.errors import NotFound
from portal.core.pagination import Page
from portal.mail import services as mail

PER_PAGE = 20


@dataclass(frozen=True)
class Listing:
    pager: Page
    rows: list[dict]


async def invoices(user: ClientUser, page: int) -> Listing:
    user.require("invoices")
    pager = Page.of(page, PER_PAGE, await billing.count_invoices(user.id, sent_only=True))
    return Listing(pager, await billing.list_invoices(user.id, pager, sent_only=True))


@dataclass(frozen=True)
class InvoiceView:
    invoice: dict
    bill_to: dict | None  # the billing contact, else the primary one
    payments: list[dict]  # shown only to users who may see transactions

    @property
    def due(self) -> int:
        return self.invoice["total"] - self.invoice["amount_paid"]


async def invoice(user: ClientUser, invoice_id: int) -> InvoiceView:
    user.require("invoices")
    row = await billing.sent_invoice(user.id, invoice_id)
    if row is None:
        raise NotFound()
    payments = await billing.invoice_payments(row["id"]) if user.may("transactions") else []
    return InvoiceView(invoice=row, bill_to=await billing.bill_to(user.id), payments=payments)


async def services(user: ClientUser, page: int) -> Listing:
    user.require("services")
    pager = Page.of(page, PER_PAGE, await billing.count_services(user.id))
    return Listing(pager, await billing.list_services(user.id, pager))


async def transactions(user: ClientUser, page: int) -> Listing:
    user.require("transactions")
    pager = Page.of(page, PER_PAGE, await billing.count_transactions(user.id))
    return Listing(pager, await billing.list_transactions(user.id, pager))


async def emails(user: ClientUser, page: int) -> Listing:
    user.require("emails")
    total = await mail.count_client_messages(user.company_id, user.id)
    pager = Page.of(page, PER_PAGE, total)
    rows = await mail.list_client_messages(
        user.company_id, user.id, limit=pager.per_page, offset=pager.offset
    )
    return Listing(pager, rows)


async def contacts(user: ClientUser) -> list[account_contacts.ContactView]:
    user.require("contacts")
    return await account_contacts.list_contacts(user.company_id, user.id)


async def contact_settings(user: ClientUser) -> EffectiveSettings:
    """The rules of the account's group for its contacts (required fields)."""
    user.require("contacts")
    return await account_contacts.contact_settings(user.company_id, user.id)


async def editable_contact(user: ClientUser, contact_id: int) -> account_contacts.ContactView:
    """A Billing or Other contact without a login, which users with the contacts permission
    may change: the primary contact is the account's details (their own permission), and a
    contact with a login is a user (its email is its login's, not for others to change)."""
    user.require("contacts")
    contact = await account_contacts.get_contact(user.company_id, user.id, contact_id)
    if contact.is_primary or contact.has_login:
        raise NotFound()
    return contact


def contact_field_mode(
    settings: EffectiveSettings, contact: account_contacts.ContactView | None, name: str
) -> str:
    """How the client area's contact form shows a contact field under the group's rules:
    "edit", "show" (read-only once it has a value) or "hide" (not shown to clients)."""
    if name not in settings.shown_fields:
        return "hide"
    if name in settings.read_only_fields and contact is not None and getattr(contact, name, ""):
        return "show"
    return "edit"


def _within_rules(
    settings: EffectiveSettings,
    contact: account_contacts.ContactView | None,
    submitted: account_contacts.ContactDetails,
) -> account_contacts.ContactDetails:
    """What was submitted for the fields the user may change; the others as they are (blank
    for a new contact), whatever the request says. No marketing consent here (the marketing
    preferences page gives it, to those allowed to)."""
    kept = {
        field.name: getattr(contact, field.name) if contact else ""
        for field in CONTACT_FIELDS
        if field.name not in {"phone", "fax"}
        and contact_field_mode(settings, contact, field.name) != "edit"
    }
    return replace(submitted, marketing_opt_in=False, **kept)


async def add_contact(
    user: ClientUser, submitted: account_contacts.ContactDetails, address: str
) -> int:
    """Adds a Billing or Other contact (without a login: users join by invitation)."""
    details = _within_rules(await contact_settings(user), None, submitted)
    actor = replace(user.actor, address=address)
    return await account_contacts.add_contact(user.company_id, user.id, details, actor)


async def update_contact(
    user: ClientUser, contact_id: int, details: account_contacts.ContactDetails, address: str
) -> None:
    """Saves a change of an editable contact; its marketing consent stays as it is."""
    contact = await editable_contact(user, contact_id)
    await account_contacts.update_contact(
        user.company_id,
        user.id,
        contact_id,
        _within_rules(await contact_settings(user), contact, details),
        replace(user.actor, address=address),
        opt_in_shown=False,
    )


async def delete_contact(user: ClientUser, contact_id: int, address: str) -> None:
    await editable_contact(user, contact_id)
    await account_contacts.delete_contact(
        user.company_id, user.id, contact_id, replace(user.actor, address=address)
    )


@dataclass(frozen=True)
class Consent:
    contact_id: int
    primary: bool  # the primary contact's consent is the account's own
    name: str
    type_label: str
    email: str
    opted_in: bool


async def marketing_consents(user: ClientUser) -> list[Consent]:
    """Each contact's marketing consent."""
    user.require("marketing")
    client = await get_client(user.company_id, user.id)
    return [
        Consent(
            contact_id=contact.id,
            primary=contact.is_primary,
            name=contact.name,
            type_label=contact.type_label,
            email=contact.email,
            opted_in=client.marketing_opt_in if contact.is_primary else contact.marketing_opt_in,
        )
        for contact in await account_contacts.list_contacts(user.company_id, user.id)
    ]


async def save_marketing_consents(
    user: ClientUser, opted_in: set[int], wording: str, address: str
) -> int:
    """Gives or withdraws each contact's consent as chosen (`opted_in`: the ids of the contacts
    that consent); each change goes into the consent log. Returns how many changed."""
    actor = replace(user.actor, address=address)
    changed = 0
    for consent in await marketing_consents(user):
        wanted = consent.contact_id in opted_in
        if wanted == consent.opted_in:
            continue
        if consent.primary:
            changed += await set_marketing_opt_in(
                user.company_id, user.id, wanted, actor, "client-area", wording
            )
        else:
            changed += await account_contacts.set_contact_marketing_opt_in(
                user.company_id, user.id, consent.contact_id, wanted, actor, "client-area"
            )
    return changed
