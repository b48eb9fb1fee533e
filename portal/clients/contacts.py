"""Contacts of a client account besides its primary contact: Billing and Other contacts (the
guide's contact types), each with the guide's contact fields under the client group's rules,
its own phone numbers, its own marketing consent and, optionally, a login of the account.

The primary contact is the client's own (Add Client makes it, Edit Client changes it): it is
listed here first, but never retyped or deleted here. The admin area calls these functions;
every change needs `clients.edit` and leaves a line in the client's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from portal.client_groups.services import EffectiveSettings, effective_settings
from portal.clients import audit, users, verification
from portal.clients.services import (
    EMAIL_IN_USE,
    CleanNumber,
    ContactFields,
    Number,
    check_contact_fields,
    check_required_fields,
    contact_values,
    email_in_use,
    hold_contact_email,
    insert_numbers,
    number_views,
    record_consent,
    send_registration_email,
)
from portal.clients.tables import (
    AccountMember,
    AccountUser,
    Contact,
    ContactNumber,
)
from portal.core.actors import Actor
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.i18n import N_
from portal.core.ids import is_row_id
from portal.core.passwords import hash_password, password_problem
from portal.core.permissions import CLIENTS_EDIT
from portal.core.rows import from_row

# The types a contact added here may have (the primary contact is the client's own).
CONTACT_TYPES = {"billing": N_("Billing"), "other": N_("Other")}
TYPE_LABELS = {"primary": N_("Primary"), **CONTACT_TYPES}
PRIMARY_IS_THE_CLIENTS = (
    "The primary contact is the client's own: change it with Edit Client. It cannot be "
    "deleted or given another type here."
)
OWNER_LOGIN_STAYS = (
    "This contact's login owns the account. Hand ownership to another user (Users widget) "
    "before taking the login away or deleting the contact."
)
CONTACTS_SQL = (
    "SELECT ct.*, u.username AS login_username, m.owner AS login_owner, "
    "m.permissions AS login_permissions "
    "FROM contact ct LEFT JOIN account_user u ON u.id = ct.login "
    'LEFT JOIN account_member m ON m."user" = ct.login AND m.client = ct.client '
    "WHERE ct.client = {} "
)
PASSWORD_NEEDED = "Password is required to give the contact a login."  # noqa: S105 - a message
PRIMARY_FIRST = "ORDER BY CASE ct.contact_type WHEN 'primary' THEN 0 ELSE 1 END, ct.id"


@dataclass
class ContactDetails(ContactFields):
    """What staff fill in on the contact form."""

    contact_type: str = "billing"
    marketing_opt_in: bool = False


@dataclass
class LoginDetails:
    """A login for the contact: its username (blank: the contact's email), its password, and
    what it may do in the account (names of users.ACCOUNT_PERMISSIONS). A contact that has a
    login already keeps its username and password; only the permissions change."""

    username: str = ""
    password: str = ""
    permissions: list[str] = field(default_factory=list)
    send_registration_email: bool = False  # tell the contact its username and where to log in


@dataclass(frozen=True)
class ContactView:
    id: int
    client_id: int
    contact_type: str
    first_name: str
    last_name: str
    company: str
    title: str
    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str
    email: str
    marketing_opt_in: bool
    login_id: int | None
    username: str
    owner: bool  # the contact's login owns the account
    permissions: frozenset[str]
    numbers: list[Number]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_primary(self) -> bool:
        return self.contact_type == "primary"

    @property
    def has_login(self) -> bool:
        return self.login_id is not None

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.contact_type, self.contact_type)


# --- reading --------------------------------------------------------------------------------


async def _views(rows: list[dict]) -> list[ContactView]:
    ids = [row["id"] for row in rows]
    numbers = (
        await ContactNumber.select()
        .where(ContactNumber.contact.is_in(ids))
        .order_by(ContactNumber.contact)
        .order_by(ContactNumber.position)
        if ids
        else []
    )
    by_contact: dict[int, list[dict]] = {}
    for number in numbers:
        by_contact.setdefault(number["contact"], []).append(number)
    views = []
    for row in rows:
        own = by_contact.get(row["id"], [])
        views.append(
            from_row(
                ContactView,
                row,
                client_id=row["client"],
                marketing_opt_in=bool(row["marketing_opt_in"]),
                login_id=row["login"],
                username=row["login_username"] or "",
                owner=bool(row["login_owner"]),
                permissions=users.permissions_of(row["login_permissions"] or ""),
                numbers=number_views(own),
            )
        )
    return views


async def list_contacts(company_id: int, client_id: int) -> list[ContactView]:
    """Every contact of the client, the primary contact first, then in the order they were
    added. NotFound for a client of another company."""
    async with read_transaction():
        await users.account_of(company_id, client_id)
        rows = await Contact.raw(CONTACTS_SQL + PRIMARY_FIRST, client_id)
        return await _views(rows)


async def get_contact(company_id: int, client_id: int, contact_id: int) -> ContactView:
    """One contact of the client. NotFound when the client is not the company's or the contact
    not the client's (the same answer for both)."""
    if not is_row_id(contact_id):
        raise NotFound()
    async with read_transaction():
        await users.account_of(company_id, client_id)
        rows = await Contact.raw(CONTACTS_SQL + "AND ct.id = {}", client_id, contact_id)
        if not rows:
            raise NotFound()
        return (await _views(rows))[0]


async def contact_settings(company_id: int, client_id: int) -> EffectiveSettings:
    """The rules the client's contacts follow (its group's, or its own): which fields are
    required, whether emails must be unique."""
    client = await users.account_of(company_id, client_id)
    return await effective_settings(company_id, client["group"], client_id)


# --- checking -------------------------------------------------------------------------------


def _chosen_permissions(names: Iterable[str], errors: dict[str, str]) -> list[str]:
    chosen = [name for name in names if name]
    if any(name not in users.ACCOUNT_PERMISSIONS for name in chosen):
        errors["permissions"] = "Choose permissions from the list."
    return chosen


@dataclass(frozen=True)
class _Checked:
    email: str
    numbers: list[CleanNumber]
    username: str  # of a new login
    permissions: list[str]
    unique_emails: str  # "all" when the group wants every contact's email unique, else "no"


async def _check(
    company_id: int,
    client: dict,
    details: ContactDetails,
    login: LoginDetails | None,
    current: ContactView | None,
) -> _Checked:
    """Every field, under the rules of the client's group; raises ValidationError."""
    errors: dict[str, str] = {}
    if details.contact_type not in CONTACT_TYPES:
        errors["contact_type"] = N_("Choose Billing or Other.")
    email, numbers = check_contact_fields(details, errors)
    settings = await effective_settings(company_id, client["group"], client["id"])
    check_required_fields(details, numbers, settings, errors)  # the contact fields only
    unique_emails = "all" if settings.unique_contact_emails == "all" else "no"
    if email and "email" not in errors and unique_emails == "all":
        if await email_in_use(company_id, email, "all", client["id"]):
            errors["email"] = EMAIL_IN_USE
    username, permissions = "", []
    if login is not None:
        permissions = _chosen_permissions(login.permissions, errors)
    if login is not None and (current is None or not current.has_login):
        # A blank username is the email's (whose own error says what to fix, if any).
        username = users.normalise_username(login.username) or email.casefold()
        must_be_email = settings.usernames_must_be_emails
        if username and (problem := users.username_problem(username, must_be_email)):
            errors["username"] = problem
        elif username and await users.username_taken(company_id, username):
            errors["username"] = users.USERNAME_TAKEN
        user_inputs = (details.email, username, details.first_name, details.last_name)
        if not login.password:
            errors["password"] = PASSWORD_NEEDED
        elif problem := password_problem(login.password, user_inputs=user_inputs):
            errors["password"] = problem
    if errors:
        raise ValidationError(errors)
    return _Checked(email, numbers, username, permissions, unique_emails)


# --- writing --------------------------------------------------------------------------------


def _values(details: ContactDetails, email: str) -> dict:
    return {
        **contact_values(details, email),
        "contact_type": details.contact_type,
        "marketing_opt_in": details.marketing_opt_in,
    }


def _numbers_text(numbers: Iterable[tuple[str, str, str, str]]) -> str:
    return "; ".join(
        f"{kind.capitalize()} ({location.capitalize()}) {number}"
        + (f" ext. {extension}" if extension else "")
        for kind, location, number, extension in numbers
    )


def _label(contact_type: str, first_name: str, last_name: str) -> str:
    """How a history line names a contact: "Billing contact Bill Payer"."""
    return f"{TYPE_LABELS.get(contact_type, contact_type)} contact {first_name} {last_name}".strip()


async def _give_login(
    company_id: int,
    client: dict,
    details: ContactDetails,
    checked: _Checked,
    password_hash: str,
) -> int:
    """Inside the write transaction: a new login for the contact, a member of the account
    with the chosen permissions."""
    user_id = await users.add_user(
        company_id,
        username=checked.username,
        email=checked.email,
        name=f"{details.first_name} {details.last_name}".strip(),
        password_hash=password_hash,
        language=client["language"],
    )
    await users.add_member(user_id, client["id"], permissions=checked.permissions)
    return user_id


def _additional(contact_id: int, client_id: int):
    """The condition of an additional contact of the client (the primary one is the client's
    own, edited with Edit Client)."""
    return (
        (Contact.id == contact_id)
        & (Contact.client == client_id)
        & (Contact.contact_type != "primary")
    )


async def _take_login(client_id: int, user_id: int) -> None:
    """Inside the write transaction: the login leaves the account (never its owner) and is
    deleted when it belongs to no other account."""
    if await users.leave_account(client_id, user_id) == "owner":
        raise ValidationError({"": OWNER_LOGIN_STAYS})
    await users.drop_orphan_logins([user_id])


@contextmanager
def _username_taken() -> Iterator[None]:
    """A login given with a username another login took meanwhile (the unique index): said
    beside the Username field."""
    try:
        yield
    except Exception as error:
        if users.is_duplicate_username(error):
            raise ValidationError({"username": users.USERNAME_TAKEN}) from None
        raise


async def add_contact(
    company_id: int,
    client_id: int,
    details: ContactDetails,
    actor: Actor,
    login: LoginDetails | None = None,
    source: str = "admin-add-contact",
) -> int:
    """Adds a Billing or Other contact to the client, with its numbers, its consent record
    and, when `login` is given, a new login that is a member of the account with the chosen
    permissions; all in one transaction. Returns the contact's id. `source` names where the
    contact came from (consent records)."""
    actor.require(CLIENTS_EDIT)
    client = await users.account_of(company_id, client_id)
    checked = await _check(company_id, client, details, login, None)
    password_hash = await hash_password(login.password) if login is not None else ""
    label = _label(details.contact_type, details.first_name, details.last_name)
    changes = [("Contact", "", f"{label} <{checked.email}> added")]
    if checked.numbers:
        numbers = [(n.number_type, n.location, n.e164, n.extension) for n in checked.numbers]
        changes.append((f"{label}: Phone Numbers", "", _numbers_text(numbers)))
    if details.marketing_opt_in:
        changes.append((f"{label}: Marketing emails", "", "Opted in"))
    if login is not None:
        permissions = users.permissions_text(checked.permissions) or "no permissions"
        changes.append((f"{label}: Login", "", f"{checked.username} ({permissions})"))
    with _username_taken():
        async for transaction in write_transactions():
            async with transaction:
                await hold_contact_email(
                    company_id, checked.email, checked.unique_emails, client_id
                )
                user_id = None
                if login is not None:
                    user_id = await _give_login(company_id, client, details, checked, password_hash)
                rows = await Contact.insert(
                    Contact(client=client_id, login=user_id, **_values(details, checked.email))
                ).returning(Contact.id)
                contact_id = rows[0]["id"]
                await insert_numbers(contact_id, checked.numbers)
                if details.marketing_opt_in:
                    await record_consent(client_id, True, actor, source, contacts=[contact_id])
                await audit.record(
                    company_id, client_id, client["code"], actor, changes, contact_id=contact_id
                )
    if login is not None and login.send_registration_email:
        await send_registration_email(client_id, company_id, contact_id)
    if user_id is not None:
        await verification.send_link(user_id)  # when the client's group requires it
    return contact_id


def _changes_of_update(
    current: ContactView, details: ContactDetails, checked: _Checked
) -> list[tuple[str, str, str]]:
    label = _label(current.contact_type, current.first_name, current.last_name)
    new_values = _values(details, checked.email)
    changes = []
    if details.contact_type != current.contact_type:
        changes.append((f"{label}: Type", current.type_label, CONTACT_TYPES[details.contact_type]))
    for name, field_label in audit.CONTACT_LABELS:
        old, new = getattr(current, name), new_values[name]
        if old != new:
            changes.append((f"{label}: {field_label}", old, new))
    old_numbers = [(n.number_type, n.location, n.e164, n.extension) for n in current.numbers]
    new_numbers = [(n.number_type, n.location, n.e164, n.extension) for n in checked.numbers]
    if old_numbers != new_numbers:
        changes.append(
            (f"{label}: Phone Numbers", _numbers_text(old_numbers), _numbers_text(new_numbers))
        )
    if details.marketing_opt_in != current.marketing_opt_in:
        words = {True: "Opted in", False: "Not opted in"}
        changes.append(
            (
                f"{label}: Marketing emails",
                words[current.marketing_opt_in],
                words[details.marketing_opt_in],
            )
        )
    return changes


async def update_contact(
    company_id: int,
    client_id: int,
    contact_id: int,
    details: ContactDetails,
    actor: Actor,
    login: LoginDetails | None = None,
    *,
    remove_login: bool = False,
    opt_in_shown: bool | None = None,
    source: str = "admin-edit-contact",
) -> None:
    """Saves an edit of a Billing or Other contact (never the primary, whose type does not
    change either). `login`: a contact without a login gets one (username, password,
    permissions); one with a login gets the permissions (the owner may do everything anyway).
    `remove_login`: the contact's login leaves the account (refused for the owner's) and is
    deleted when it belongs to no other account. The login's email and name follow the
    contact's when the login belongs to this account alone. `opt_in_shown`: the marketing
    consent the form showed; left as it was, the contact's consent stays what it is now (the
    contact may have unsubscribed since the form was opened). `source` names where the edit
    came from (consent records)."""
    actor.require(CLIENTS_EDIT)
    client = await users.account_of(company_id, client_id)
    current = await get_contact(company_id, client_id, contact_id)
    if current.is_primary:
        raise ValidationError({"": PRIMARY_IS_THE_CLIENTS})
    if opt_in_shown is not None and details.marketing_opt_in == opt_in_shown:
        details = replace(details, marketing_opt_in=current.marketing_opt_in)
    if remove_login:
        login = None
        if current.has_login and current.owner:
            raise ValidationError({"give_login": OWNER_LOGIN_STAYS})
    checked = await _check(company_id, client, details, login, current)
    creating = login is not None and not current.has_login
    password_hash = await hash_password(login.password) if creating and login else ""
    label = _label(current.contact_type, current.first_name, current.last_name)
    changes = _changes_of_update(current, details, checked)
    new_permissions = users.permissions_text(checked.permissions)
    if creating:
        shown = new_permissions or "no permissions"
        changes.append((f"{label}: Login", "", f"{checked.username} ({shown})"))
    elif remove_login and current.has_login:
        changes.append((f"{label}: Login", current.username, "removed"))
    elif login is not None and not current.owner:
        old_permissions = users.permissions_text(current.permissions)
        if old_permissions != new_permissions:
            changes.append((f"{label}: Permissions", old_permissions, new_permissions))
    with _username_taken():
        async for transaction in write_transactions():
            async with transaction:
                await hold_contact_email(
                    company_id, checked.email, checked.unique_emails, client_id
                )
                followed = None  # the login, when its email and name followed the contact's
                user_id = current.login_id
                if creating:
                    user_id = await _give_login(company_id, client, details, checked, password_hash)
                updated = (
                    await Contact.update(
                        {**_values(details, checked.email), "login": user_id}
                        if creating
                        else _values(details, checked.email)
                    )
                    .where(_additional(contact_id, client_id))
                    .returning(Contact.id, Contact.login)
                )
                if not updated:
                    raise NotFound()
                await ContactNumber.delete().where(ContactNumber.contact == contact_id)
                await insert_numbers(contact_id, checked.numbers)
                login_now = updated[0]["login"]
                if remove_login and login_now is not None:
                    await Contact.update({Contact.login: None}).where(Contact.id == contact_id)
                    await _take_login(client_id, login_now)
                elif login_now is not None and not creating:
                    if login is not None:
                        await AccountMember.update(
                            {AccountMember.permissions: new_permissions}
                        ).where(
                            AccountMember.client == client_id,
                            AccountMember.user == login_now,
                            AccountMember.owner.eq(False),
                        )
                    followed = await _login_follows(client_id, login_now, details, checked.email)
                if details.marketing_opt_in != current.marketing_opt_in:
                    await record_consent(
                        client_id, details.marketing_opt_in, actor, source, contacts=[contact_id]
                    )
                await audit.record(
                    company_id, client_id, client["code"], actor, changes, contact_id=contact_id
                )
    if creating and login is not None and login.send_registration_email:
        await send_registration_email(client_id, company_id, contact_id)
    if creating and user_id is not None:
        await verification.send_link(user_id)  # when the client's group requires it
    elif followed and checked.email.casefold() != current.email.casefold():
        await verification.email_changed(followed, current.email)


async def set_contact_marketing_opt_in(
    company_id: int, client_id: int, contact_id: int, opted_in: bool, actor: Actor, source: str
) -> bool:
    """Sets a Billing or Other contact's own marketing consent and logs it in the consent log,
    in one transaction (the primary contact's is the client's: `set_marketing_opt_in`). Returns
    whether anything changed. NotFound for a contact that is not the client's. The caller
    decides who may do this (staff with clients.edit, a user with the marketing permission)."""
    await users.account_of(company_id, client_id)
    async for transaction in write_transactions():
        async with transaction:
            changed = (
                await Contact.update({Contact.marketing_opt_in: opted_in})
                .where(
                    _additional(contact_id, client_id),
                    Contact.marketing_opt_in != opted_in,
                )
                .returning(Contact.id)
            )
            if changed:
                await record_consent(client_id, opted_in, actor, source, contacts=[contact_id])
            elif not await Contact.exists().where(_additional(contact_id, client_id)):
                raise NotFound()
    return bool(changed)


async def _login_follows(
    client_id: int, user_id: int, details: ContactDetails, email: str
) -> int | None:
    """Inside the write transaction: the login's email and name become the contact's, unless
    the login is also a user of another account (whose people know it as it is). Returns the
    login when it followed."""
    followed = (
        await AccountUser.update(
            {
                AccountUser.email: email,
                AccountUser.name: f"{details.first_name} {details.last_name}".strip()[:201],
            }
        )
        .where(
            AccountUser.id == user_id,
            AccountUser.id.not_in(
                AccountMember.select(AccountMember.user).where(AccountMember.client != client_id)
            ),
        )
        .returning(AccountUser.id)
    )
    return followed[0]["id"] if followed else None


async def delete_contact(company_id: int, client_id: int, contact_id: int, actor: Actor) -> None:
    """Deletes a Billing or Other contact with its numbers and consent records. A contact with
    a login takes it out of the account (refused when that login owns the account), and the
    login goes when it belongs to no other account."""
    actor.require(CLIENTS_EDIT)
    client = await users.account_of(company_id, client_id)
    current = await get_contact(company_id, client_id, contact_id)
    if current.is_primary:
        raise ValidationError({"": PRIMARY_IS_THE_CLIENTS})
    if current.has_login and current.owner:
        raise ValidationError({"": OWNER_LOGIN_STAYS})
    label = _label(current.contact_type, current.first_name, current.last_name)
    changes = [("Contact", f"{label} <{current.email}>", "deleted")]
    if current.has_login:
        changes.append((f"{label}: Login", current.username, "removed"))
    async for transaction in write_transactions():
        async with transaction:
            deleted = (
                await Contact.delete()
                .where(_additional(contact_id, client_id))
                .returning(Contact.id, Contact.login)
            )
            if not deleted:
                raise NotFound()
            if (user_id := deleted[0]["login"]) is not None:
                await _take_login(client_id, user_id)
            await audit.record(
                company_id, client_id, client["code"], actor, changes, contact_id=contact_id
            )
