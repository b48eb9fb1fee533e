"""Users of client accounts: logins (username or email and a password) that may belong to
several accounts of one company, each membership with its own permissions; invitations into an
account; ownership.

Every account has one owner (made with the account, from Add Client's Username and Password),
who may do everything in it and manage its users. Other users get what their permission set
allows. The admin area, the client area and the API call these functions; the client area's
routes and services check `Membership.may` before every page and action.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.clients import audit
from portal.clients.tables import (
    AccountInvitation,
    AccountMember,
    AccountUser,
    Client,
    Contact,
)
from portal.companies.services import get_company
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.db import locked, violated_unique_index, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import normalise_email
from portal.core.i18n import N_
from portal.core.ids import is_row_id
from portal.core.passwords import hash_password, password_problem, verify_password
from portal.core.permissions import CLIENTS_EDIT, Forbidden
from portal.core.rows import from_row
from portal.core.tokens import new_token, token_hash
from portal.mail import services as mail

# What a user of an account may be allowed to see and do there, in the order pages list them.
ACCOUNT_PERMISSIONS = {
    "invoices": N_("Invoices"),
    "services": N_("Services"),
    "transactions": N_("Transactions"),
    "contacts": N_("Contacts"),
    "details": N_("Account details"),
    "emails": N_("Emails"),
    "marketing": N_("Marketing preferences"),
}
INVITATION_LIFETIME = timedelta(days=7)
USERNAME_TAKEN = N_("This username is already in use by another client.")
PENDING_INVITATIONS_MAX = 20  # per account: an owner cannot mail the world from one account


def permissions_of(text: str) -> frozenset[str]:
    return frozenset(name for name in text.split(",") if name in ACCOUNT_PERMISSIONS)


def permissions_text(names: Iterable[str]) -> str:
    """Known permission names, comma separated in the order of ACCOUNT_PERMISSIONS."""
    chosen = set(names)
    return ",".join(name for name in ACCOUNT_PERMISSIONS if name in chosen)


@dataclass(frozen=True)
class Membership:
    """A user's place in one account, as the client area needs it."""

    user_id: int
    client_id: int
    company_id: int
    code: str
    label: str  # the account as its users know it: the organisation, else the primary's name
    status: str
    owner: bool
    permissions: frozenset[str]

    def may(self, permission: str) -> bool:
        return self.owner or permission in self.permissions


@dataclass(frozen=True)
class Member:
    """A user of an account, as the account's Users page and the admin profile list them."""

    user_id: int
    name: str
    username: str
    email: str
    owner: bool
    permissions: frozenset[str]
    last_login_at: datetime | None


MEMBERSHIP_SQL = (
    'SELECT m."user", m.client, m.owner, m.permissions, c.company, c.code, c.status, '
    "ct.company AS organisation, ct.first_name, ct.last_name "
    "FROM account_member m JOIN client c ON c.id = m.client "
    "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
    'WHERE m."user" = {} '
)


def _membership(row: dict) -> Membership:
    name = f"{row['first_name']} {row['last_name']}".strip()
    return Membership(
        user_id=row["user"],
        client_id=row["client"],
        company_id=row["company"],
        code=row["code"],
        label=row["organisation"] or name,
        status=row["status"],
        owner=bool(row["owner"]),
        permissions=permissions_of(row["permissions"]),
    )


async def memberships(user_id: int) -> list[Membership]:
    """Every account of the user, whatever its status, in the order they were joined."""
    rows = await AccountMember.raw(MEMBERSHIP_SQL + "ORDER BY m.id", user_id)
    return [_membership(row) for row in rows]


async def membership(user_id: int, client_id: int) -> Membership | None:
    if not is_row_id(client_id):
        return None
    rows = await AccountMember.raw(MEMBERSHIP_SQL + "AND m.client = {}", user_id, client_id)
    return _membership(rows[0]) if rows else None


# --- logins ---------------------------------------------------------------------------------


USERNAME_PATTERN = re.compile(r"^[\w.@+-]+$")


def normalise_username(value: str) -> str:
    return value.strip().casefold()


def username_problem(username: str, must_be_email: bool = False) -> str | None:
    """What is wrong with a (normalised) username, if anything."""
    if not username:
        return N_("Username is required.")
    if len(username) > 254:
        return N_("Username is too long (at most 254 characters).")
    if not USERNAME_PATTERN.match(username):
        return N_("Use letters, digits and . _ - + @ only.")
    if must_be_email and normalise_email(username) is None:
        return N_("In this client group the username must be an email address.")
    return None


async def username_taken(company_id: int, username: str, except_user_id: int | None = None) -> bool:
    """Whether another user of the company has the username (each company has its own)."""
    rows = await AccountUser.raw(
        "SELECT id FROM account_user WHERE company = {} AND lower(username) = lower({}) LIMIT 2",
        company_id,
        normalise_username(username),
    )
    return any(row["id"] != except_user_id for row in rows)


def is_duplicate_username(error: BaseException) -> bool:
    return violated_unique_index(error) in {"account_user_username_ci", "account_user.username"}


async def add_user(
    company_id: int,
    *,
    username: str,
    email: str,
    name: str,
    password_hash: str | None,
    language: str,
) -> int:
    """A new login, inside the caller's write transaction."""
    rows = await AccountUser.insert(
        AccountUser(
            company=company_id,
            username=normalise_username(username),
            email=email,
            name=name[:201],
            password_hash=password_hash,
            language=language,
        )
    ).returning(AccountUser.id)
    return rows[0]["id"]


async def add_member(
    user_id: int, client_id: int, *, owner: bool = False, permissions: Iterable[str] = ()
) -> None:
    """Puts the user in the account, inside the caller's write transaction."""
    await AccountMember.insert(
        AccountMember(
            user=user_id,
            client=client_id,
            owner=owner,
            permissions="" if owner else permissions_text(permissions),
        )
    )


async def owner_of(client_id: int) -> dict | None:
    """The owner's login of an account (username, email, last login...)."""
    rows = await AccountUser.raw(
        'SELECT u.* FROM account_user u JOIN account_member m ON m."user" = u.id '
        "WHERE m.client = {} AND m.owner",
        client_id,
    )
    return rows[0] if rows else None


async def primary_login(client_id: int) -> dict | None:
    """The login of the account's primary contact: the one Add Client and Edit Client set
    (username, password), whose email follows the primary contact's. The owner's, unless
    ownership was handed to another user."""
    rows = await AccountUser.raw(
        "SELECT u.* FROM account_user u JOIN contact ct ON ct.login = u.id "
        "WHERE ct.client = {} AND ct.contact_type = 'primary'",
        client_id,
    )
    return rows[0] if rows else None


async def drop_orphan_logins(user_ids: Iterable[int]) -> None:
    """Deletes those of the users that no longer belong to any account (inside the caller's
    write transaction): a login without an account opens nothing and keeps personal data."""
    ids = sorted(set(user_ids))
    if ids:
        await AccountUser.delete().where(
            AccountUser.id.is_in(ids),
            AccountUser.id.not_in(AccountMember.select(AccountMember.user)),
        )


async def mail_user(
    user_id: int, template: str, kind: str, to: str | None = None, **context: str
) -> None:
    """Mails the user (its email, or `to`) in its language, from the company of its account."""
    row = (
        await AccountUser.select(
            AccountUser.company,
            AccountUser.language,
            AccountUser.email,
            AccountUser.name,
            AccountUser.username,
        )
        .where(AccountUser.id == user_id)
        .first()
    )
    if row is None:
        return
    account = (await account_ids(user_id) or [None])[0]
    company = await get_company(row["company"])
    subject, body = mail.render(
        template,
        row["language"],
        company=company["name"],
        first_name=row["name"],
        login_url=f"{get_settings().base_url}/client/login",
        **{"username": row["username"], **context},
    )
    await mail.send(
        company["id"],
        company["name"],
        mail.Mail(
            to=to or row["email"], subject=subject, body_text=body, kind=kind, client_id=account
        ),
    )


async def account_ids(user_id: int) -> list[int]:
    """The accounts of a user, in the order it joined them."""
    rows = (
        await AccountMember.select(AccountMember.client)
        .where(AccountMember.user == user_id)
        .order_by(AccountMember.id)
    )
    return [row["client"] for row in rows]


async def member_ids(client_id: int) -> list[int]:
    rows = await AccountMember.select(AccountMember.user).where(AccountMember.client == client_id)
    return [row["user"] for row in rows]


# --- who may manage an account's users --------------------------------------------------------


async def account_of(company_id: int, client_id: int) -> dict:
    """The client account of the company (id, code, group, language); NotFound for an unknown
    id and for another company's client (the same answer for both)."""
    if not is_row_id(client_id):
        raise NotFound()
    row = (
        await Client.select(Client.id, Client.code, Client.group, Client.language)
        .where(Client.id == client_id, Client.company == company_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def _require_manager(company_id: int, client_id: int, actor: Actor) -> dict:
    """The account, when the actor may manage its users: staff who may edit clients, or the
    account's owner. Anyone else gets NotFound or Forbidden, as for another client's data."""
    row = await account_of(company_id, client_id)
    if actor.kind == "client":
        mine = await membership(actor.id or 0, client_id)
        if mine is None:
            raise NotFound()
        if not mine.owner:
            raise Forbidden("account.users")
    else:
        actor.require(CLIENTS_EDIT)
    return row


async def members(company_id: int, client_id: int, actor: Actor) -> list[Member]:
    await _require_manager(company_id, client_id, actor)
    rows = await AccountUser.raw(
        "SELECT u.id, u.name, u.username, u.email, u.last_login_at, m.owner, m.permissions "
        'FROM account_member m JOIN account_user u ON u.id = m."user" '
        "WHERE m.client = {} ORDER BY m.owner DESC, lower(u.name), u.id",
        client_id,
    )
    return [
        from_row(
            Member,
            row,
            user_id=row["id"],
            owner=bool(row["owner"]),
            permissions=permissions_of(row["permissions"]),
        )
        for row in rows
    ]


def _chosen(permissions: Iterable[str]) -> list[str]:
    chosen = [name for name in permissions if name]
    if any(name not in ACCOUNT_PERMISSIONS for name in chosen):
        raise ValidationError({"permissions": N_("Choose permissions from the list.")})
    return chosen


async def set_permissions(
    company_id: int, client_id: int, user_id: int, permissions: Iterable[str], actor: Actor
) -> None:
    """Changes what a user (not the owner, who may do everything) may do in the account."""
    account = await _require_manager(company_id, client_id, actor)
    if not is_row_id(user_id):
        raise NotFound()
    chosen = _chosen(permissions)
    async for transaction in write_transactions():
        async with transaction:
            row = await locked(
                AccountMember.select(
                    AccountMember.id, AccountMember.owner, AccountMember.permissions
                ).where(AccountMember.client == client_id, AccountMember.user == user_id)
            ).first()
            if row is None:
                raise NotFound()
            if row["owner"]:
                raise ValidationError({"permissions": N_("The owner may do everything.")})
            new_text = permissions_text(chosen)
            await AccountMember.update({AccountMember.permissions: new_text}).where(
                AccountMember.id == row["id"]
            )
            await audit.record(
                company_id,
                client_id,
                account["code"],
                actor,
                [(f"Permissions of user {user_id}", row["permissions"], new_text)],
            )


async def leave_account(client_id: int, user_id: int) -> str:
    """Inside a write transaction: the user's membership of the account ends, unless it is the
    owner's. "left", "owner" (kept: the owner stays) or "none" (not a member)."""
    removed = (
        await AccountMember.delete()
        .where(
            AccountMember.client == client_id,
            AccountMember.user == user_id,
            AccountMember.owner.eq(False),
        )
        .returning(AccountMember.id)
    )
    if removed:
        return "left"
    owner = await AccountMember.exists().where(
        AccountMember.client == client_id,
        AccountMember.user == user_id,
        AccountMember.owner.eq(True),
    )
    return "owner" if owner else "none"


async def remove_member(company_id: int, client_id: int, user_id: int, actor: Actor) -> None:
    """Takes a user out of the account (never the owner: hand ownership over first). The login
    goes too when it belongs to no other account; the user's sessions in this account end at
    their next request."""
    account = await _require_manager(company_id, client_id, actor)
    if not is_row_id(user_id):
        raise NotFound()
    async for transaction in write_transactions():
        async with transaction:
            left = await leave_account(client_id, user_id)
            if left == "owner":
                raise ValidationError(
                    {"": N_("The owner cannot be removed. Hand ownership to another user first.")}
                )
            if left == "none":
                raise NotFound()
            await Contact.update({Contact.login: None}).where(
                Contact.client == client_id, Contact.login == user_id
            )
            await drop_orphan_logins([user_id])
            await audit.record(
                company_id,
                client_id,
                account["code"],
                actor,
                [("User", f"user {user_id}", "removed")],
            )


async def transfer_ownership(
    company_id: int, client_id: int, new_owner_id: int, actor: Actor, password: str = ""
) -> None:
    """Makes another user of the account its owner; the old owner stays a user with every
    permission. An owner confirms with their password; staff with their permission."""
    account = await _require_manager(company_id, client_id, actor)
    if not is_row_id(new_owner_id):
        raise NotFound()
    if actor.kind == "client":
        row = (
            await AccountUser.select(AccountUser.password_hash)
            .where(AccountUser.id == actor.id)
            .first()
        )
        ok, _ = await verify_password(row["password_hash"] if row else None, password)
        if not ok:
            raise ValidationError({"password": N_("The current password is not correct.")})
    async for transaction in write_transactions():
        async with transaction:
            rows = await locked(
                AccountMember.select(AccountMember.id, AccountMember.user, AccountMember.owner)
                .where(AccountMember.client == client_id)
                .order_by(AccountMember.id)
            )
            new = next((row for row in rows if row["user"] == new_owner_id), None)
            old = next((row for row in rows if row["owner"]), None)
            if new is None:
                raise NotFound()
            if new["owner"]:
                return
            everything = permissions_text(ACCOUNT_PERMISSIONS)
            if old is not None:
                await AccountMember.update(
                    {AccountMember.owner: False, AccountMember.permissions: everything}
                ).where(AccountMember.id == old["id"])
            await AccountMember.update(
                {AccountMember.owner: True, AccountMember.permissions: ""}
            ).where(AccountMember.id == new["id"])
            await audit.record(
                company_id,
                client_id,
                account["code"],
                actor,
                [("Owner", f"user {old['user'] if old else ''}", f"user {new_owner_id}")],
            )


# --- invitations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    id: int
    client_id: int
    company_id: int
    account_label: str
    email: str
    permissions: frozenset[str]
    invited_by: str
    expires_at: datetime


async def invite(
    company_id: int, client_id: int, email: str, permissions: Iterable[str], actor: Actor
) -> int:
    """Invites an email address into the account with the chosen permissions and mails it a
    single-use link that expires. An address already in the account, or already invited and
    not answered, is refused with a message."""
    account = await _require_manager(company_id, client_id, actor)
    chosen = _chosen(permissions)
    address = normalise_email(email.strip()) if email.strip() else None
    if address is None:
        raise ValidationError({"email": N_("Enter a valid email address, like name@example.com.")})
    token, stored_hash = new_token()
    async for transaction in write_transactions():
        async with transaction:
            await locked(Client.select(Client.id).where(Client.id == client_id))
            in_account = await AccountUser.raw(
                'SELECT u.id FROM account_member m JOIN account_user u ON u.id = m."user" '
                "WHERE m.client = {} AND lower(u.email) = lower({}) LIMIT 1",
                client_id,
                address,
            )
            if in_account:
                raise ValidationError(
                    {"email": N_("This address is already a user of the account.")}
                )
            pending = await AccountInvitation.select(AccountInvitation.email).where(
                AccountInvitation.client == client_id,
                AccountInvitation.used_at.is_null(),
                AccountInvitation.revoked_at.is_null(),
                AccountInvitation.expires_at > datetime.now(UTC),
            )
            if any(row["email"].casefold() == address.casefold() for row in pending):
                raise ValidationError({"email": N_("This address has already been invited.")})
            if len(pending) >= PENDING_INVITATIONS_MAX:
                raise ValidationError(
                    {"email": N_("Too many invitations wait for an answer. Revoke some first.")}
                )
            rows = await AccountInvitation.insert(
                AccountInvitation(
                    client=client_id,
                    email=address,
                    permissions=permissions_text(chosen),
                    token_hash=stored_hash,
                    invited_by=actor.name[:201],
                    expires_at=datetime.now(UTC) + INVITATION_LIFETIME,
                )
            ).returning(AccountInvitation.id)
            await audit.record(
                company_id,
                client_id,
                account["code"],
                actor,
                [("Invitation", "", f"{address} ({permissions_text(chosen) or 'no permissions'})")],
            )
    company = await get_company(company_id)
    subject, body = mail.render(
        "account_invitation.txt",
        account["language"],
        company=company["name"],
        account=(await _account_labels([client_id]))[client_id],
        inviter=actor.name,
        link=f"{get_settings().base_url}/client/invitation/{token}",
        days=INVITATION_LIFETIME.days,
    )
    await mail.send(
        company_id,
        company["name"],
        mail.Mail(
            to=address, subject=subject, body_text=body, kind="invitation", client_id=client_id
        ),
    )
    return rows[0]["id"]


async def _account_labels(client_ids: list[int]) -> dict[int, str]:
    rows = await Contact.select(
        Contact.client, Contact.company, Contact.first_name, Contact.last_name
    ).where(Contact.client.is_in(client_ids), Contact.contact_type == "primary")
    return {
        row["client"]: row["company"] or f"{row['first_name']} {row['last_name']}".strip()
        for row in rows
    }


async def pending_invitations(company_id: int, client_id: int, actor: Actor) -> list[Invitation]:
    await _require_manager(company_id, client_id, actor)
    rows = (
        await AccountInvitation.select()
        .where(
            AccountInvitation.client == client_id,
            AccountInvitation.used_at.is_null(),
            AccountInvitation.revoked_at.is_null(),
            AccountInvitation.expires_at > datetime.now(UTC),
        )
        .order_by(AccountInvitation.id)
    )
    labels = await _account_labels([client_id])
    return [_invitation(row, company_id, labels) for row in rows]


def _invitation(row: dict, company_id: int, labels: dict[int, str]) -> Invitation:
    return from_row(
        Invitation,
        row,
        client_id=row["client"],
        company_id=company_id,
        account_label=labels.get(row["client"], ""),
        permissions=permissions_of(row["permissions"]),
    )


async def revoke_invitation(
    company_id: int, client_id: int, invitation_id: int, actor: Actor
) -> None:
    account = await _require_manager(company_id, client_id, actor)
    if not is_row_id(invitation_id):
        raise NotFound()
    async for transaction in write_transactions():
        async with transaction:
            revoked = (
                await AccountInvitation.update({AccountInvitation.revoked_at: datetime.now(UTC)})
                .where(
                    AccountInvitation.id == invitation_id,
                    AccountInvitation.client == client_id,
                    AccountInvitation.used_at.is_null(),
                    AccountInvitation.revoked_at.is_null(),
                )
                .returning(AccountInvitation.email)
            )
            if not revoked:
                raise NotFound()
            await audit.record(
                company_id,
                client_id,
                account["code"],
                actor,
                [("Invitation", revoked[0]["email"], "revoked")],
            )


def _open_invitation_where(token: str) -> tuple:
    return (
        AccountInvitation.token_hash == token_hash(token),
        AccountInvitation.used_at.is_null(),
        AccountInvitation.revoked_at.is_null(),
        AccountInvitation.expires_at > datetime.now(UTC),
    )


async def invitation_for(token: str) -> Invitation | None:
    """The invitation a link names while it can be accepted (not used, revoked or expired)."""
    row = (
        await AccountInvitation.select(
            AccountInvitation.all_columns(), AccountInvitation.client.company
        )
        .where(*_open_invitation_where(token))
        .first()
    )
    if row is None:
        return None
    labels = await _account_labels([row["client"]])
    return _invitation(row, row["client.company"], labels)


async def _accept(token: str, user_id: int, company_id: int) -> int:
    """Inside a write transaction: uses the invitation up and puts the user in its account."""
    used = (
        await AccountInvitation.update({AccountInvitation.used_at: datetime.now(UTC)})
        .where(*_open_invitation_where(token))
        .returning(AccountInvitation.client, AccountInvitation.permissions, AccountInvitation.email)
    )
    if not used:
        raise NotFound()
    client_id = used[0]["client"]
    account = await Client.select(Client.code, Client.company).where(Client.id == client_id).first()
    if account is None or account["company"] != company_id:
        raise NotFound()
    if await AccountMember.exists().where(
        AccountMember.client == client_id, AccountMember.user == user_id
    ):
        raise ValidationError({"": N_("You are already a user of this account.")})
    await add_member(user_id, client_id, permissions=permissions_of(used[0]["permissions"]))
    # The link was mailed to the invited address: whoever used it has proven that address (a
    # new login has it as its email; a login that has it still unverified counts as verified).
    await AccountUser.raw(
        "UPDATE account_user SET email_verified_at = {} WHERE id = {} "
        "AND email_verified_at IS NULL AND lower(email) = lower({})",
        datetime.now(UTC),
        user_id,
        used[0]["email"],
    )
    await audit.record(
        company_id,
        client_id,
        account["code"],
        Actor(kind="client", id=user_id),
        [("User", "", f"{used[0]['email']} accepted the invitation")],
    )
    return client_id


async def accept_as(token: str, user_id: int) -> int:
    """Accepts the invitation for a logged-in user of the invitation's company. Returns the
    account. NotFound when the link cannot be used (any more)."""
    user = await AccountUser.select(AccountUser.company).where(AccountUser.id == user_id).first()
    if user is None:
        raise NotFound()
    async for transaction in write_transactions():
        async with transaction:
            client_id = await _accept(token, user_id, user["company"])
    return client_id


async def accept_as_new_user(
    token: str, *, name: str, username: str, password: str, language: str
) -> tuple[int, int]:
    """Accepts the invitation with a new login (the invited address is its email). Returns
    (user, account)."""
    invitation = await invitation_for(token)
    if invitation is None:
        raise NotFound()
    errors: dict[str, str] = {}
    name = " ".join(name.split())
    username = normalise_username(username) or invitation.email
    if not name:
        errors["name"] = N_("Name is required.")
    elif len(name) > 201:
        errors["name"] = N_("Name is too long (at most 201 characters).")
    if problem := username_problem(username):
        errors["username"] = problem
    elif await username_taken(invitation.company_id, username):
        errors["username"] = USERNAME_TAKEN
    if problem := password_problem(password, user_inputs=(invitation.email, username, name)):
        errors["password"] = problem
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(password)
    try:
        async for transaction in write_transactions():
            async with transaction:
                user_id = await add_user(
                    invitation.company_id,
                    username=username,
                    email=invitation.email,
                    name=name,
                    password_hash=password_hash,
                    language=language,
                )
                client_id = await _accept(token, user_id, invitation.company_id)
    except Exception as error:
        if is_duplicate_username(error):
            raise ValidationError({"username": USERNAME_TAKEN}) from None
        raise
    return user_id, client_id
