"""What a user of the client area sees of its account's records: invoices (with whom they are
billed to), services, transactions, the emails the account was sent, its contacts, and the
marketing consent of each contact. Every function checks the user's permission in the account
first (Forbidden otherwise) and reads only the account's own rows (NotFound for anything else:
the same answer as for a record that does not exist)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from portal.billing import services as billing
from portal.client_area.services import ClientUser
from portal.clients import contacts as account_contacts
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
