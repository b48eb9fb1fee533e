"""Reading the client form (Add Client, Edit Client, My details) into ClientDetails, and the
details a blank or an existing client starts from."""

from __future__ import annotations

import secrets
from typing import Any

from portal.clients.contacts import ContactDetails, ContactView
from portal.clients.fields import CONTACT_FIELDS
from portal.clients.services import MAX_PHONE_ROWS, ClientDetails, ClientView, PhoneRow
from portal.core.forms import checkbox, many, text
from portal.core.passwords import generate_password
from portal.core.rows import from_row


def new_phone_row(number_type: str = "phone", location: str = "home", number: str = "") -> PhoneRow:
    return PhoneRow(
        row_id=secrets.token_hex(4), number_type=number_type, location=location, number=number
    )


def read_phone_rows(data: dict[str, Any]) -> list[PhoneRow]:
    """The Phone Numbers rows, at most one more than can be stored: the service refuses the
    excess, and the form comes back with the rows it can keep."""
    ids, types, locations, numbers = (
        many(data, name) for name in ("phone_row", "phone_type", "phone_location", "phone_number")
    )
    rows = []
    for index, row_id in enumerate(ids[: MAX_PHONE_ROWS + 1]):
        safe_id = row_id if row_id.isalnum() and len(row_id) <= 16 else secrets.token_hex(4)
        rows.append(
            PhoneRow(
                row_id=safe_id,
                number_type=types[index] if index < len(types) else "phone",
                location=locations[index] if index < len(locations) else "home",
                number=numbers[index] if index < len(numbers) else "",
            )
        )
    return rows


def read_client_details(data: dict[str, Any]) -> ClientDetails:
    return ClientDetails(
        first_name=text(data, "first_name"),
        last_name=text(data, "last_name"),
        company=text(data, "company"),
        title=text(data, "title"),
        address1=text(data, "address1"),
        address2=text(data, "address2"),
        city=text(data, "city"),
        country=text(data, "country").upper(),
        state=text(data, "state"),
        zip=text(data, "zip"),
        email=text(data, "email"),
        phones=read_phone_rows(data),
        tax_exempt=checkbox(data, "tax_exempt"),
        tax_id=text(data, "tax_id"),
        preferred_currency=text(data, "preferred_currency").upper(),
        username_mode=text(data, "username_mode") or "email",
        username=text(data, "username"),
        language=text(data, "language"),
        group_id=text(data, "group_id"),
        send_registration_email=checkbox(data, "send_registration_email"),
        marketing_opt_in=checkbox(data, "marketing_opt_in"),
        custom=read_custom_values(data),
    )


def read_custom_values(data: dict[str, Any]) -> dict[str, str]:
    """Custom field inputs are named custom_<field id>."""
    return {
        name.removeprefix("custom_"): text(data, name)
        for name in data
        if name.startswith("custom_") and name.removeprefix("custom_").isdigit()
    }


def blank_client_details(company: dict, default_group_id: int | None) -> ClientDetails:
    """A new client starts in the company's country, currency and language, in the default group."""
    return ClientDetails(
        country=company["default_country"],
        preferred_currency=company["default_currency"],
        language=company["default_language"],
        group_id=str(default_group_id or ""),
        phones=[new_phone_row()],
    )


def client_details_of(client: ClientView, custom: dict[int, str]) -> ClientDetails:
    contact = client.contact
    specified = client.username.casefold() != contact["email"].casefold()
    return from_row(
        ClientDetails,
        contact,  # the contact fields; the account's own come below
        phones=[new_phone_row(n.number_type, n.location, n.display) for n in client.numbers]
        or [new_phone_row()],
        tax_exempt=client.tax_exempt,
        tax_id=client.tax_id,
        preferred_currency=client.preferred_currency,
        username_mode="specify" if specified else "email",
        username=client.username if specified else "",
        language=client.language,
        group_id=str(client.group_id),
        marketing_opt_in=client.marketing_opt_in,
        custom={str(field_id): value for field_id, value in custom.items()},
    )


def apply_form_action(data: dict[str, Any], details: ClientDetails) -> tuple[bool, str | None]:
    """The form's helper buttons work without JavaScript: they re-render the form. Returns
    (handled, generated password): a new one for "Generate Password", else the one generated
    before and posted back (shown to staff already, it comes back with the form)."""
    generated = data.get("password") if data.get("password_generated") == "1" else None
    if remove := data.get("remove_phone"):
        details.phones = [row for row in details.phones if row.row_id != remove] or [
            new_phone_row()
        ]
        return True, generated
    action = data.get("action", "save")
    if action == "add_phone":
        details.phones.append(new_phone_row())
        return True, generated
    if action == "generate_password":
        return True, generate_password()
    return action == "refresh", generated


def read_permissions(data: dict[str, Any]) -> list[str]:
    """The account permissions ticked on a form (the services check the names)."""
    return [name for name in many(data, "permissions") if name]


def read_invitation(data: dict[str, Any]) -> dict[str, Any]:
    """An invitation form (the owner's Users page, the profile's Users widget) as typed."""
    return {"email": text(data, "email"), "permissions": read_permissions(data)}


def read_contact_details(data: dict[str, Any]) -> ContactDetails:
    """A Billing or Other contact's form (Add/Edit Contact, the client area's contacts)."""
    details = ContactDetails(
        contact_type=text(data, "contact_type"),
        **{contact_field.name: text(data, contact_field.name) for contact_field in CONTACT_FIELDS},
        phones=read_phone_rows(data),
        marketing_opt_in=checkbox(data, "marketing_opt_in"),
    )
    details.country = details.country.upper()
    return details


def contact_details_of(contact: ContactView) -> ContactDetails:
    """A contact as its edit form shows it first."""
    return ContactDetails(
        contact_type=contact.contact_type,
        **{
            contact_field.name: getattr(contact, contact_field.name)
            for contact_field in CONTACT_FIELDS
        },
        phones=[new_phone_row(n.number_type, n.location, n.display) for n in contact.numbers]
        or [new_phone_row()],
        marketing_opt_in=contact.marketing_opt_in,
    )
