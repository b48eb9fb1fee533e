"""The client self-service area: logging in, password reset, username reminder, and a client's
own details. Every rule about clients themselves stays in portal.clients.services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from portal.activity import services as activity
from portal.billing import services as billing
from portal.client_area.tables import PasswordResetToken
from portal.client_groups.services import (
    CONTACT_FIELDS,
    EffectiveSettings,
    custom_values,
    effective_settings,
    list_fields,
    on_for_user,
)
from portal.clients import users, verification
from portal.clients.forms import client_details_of
from portal.clients.services import (
    ClientDetails,
    ClientView,
    get_client,
    update_client,
)
from portal.clients.tables import AccountUser, Client
from portal.companies.services import get_company
from portal.core import throttle
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.db import write_transactions
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.i18n import N_
from portal.core.pagination import Page
from portal.core.passwords import hash_password, password_problem, verify_password
from portal.core.permissions import Forbidden
from portal.core.rows import from_row
from portal.core.tokens import new_token, token_hash
from portal.security import logins, two_factor
from portal.security.two_factor import Login

THROTTLE_AREA = "client"
RESET_THROTTLE_AREA = "client-reset"
CONFIRM_THROTTLE_AREA = "client-confirm"
LOGIN_FAILED = N_("Username or password is incorrect.")
NOT_AS_STAFF = N_("Staff working as a client cannot change its password, email or sign-in.")
RESET_LIFETIME = timedelta(hours=1)
SETUP_LIFETIME = timedelta(days=7)
# Clients sharing an email address or (in several companies) a username: at most this many are
# tried for one login.
MAX_EMAIL_CANDIDATES = 5
# The password reset and username reminder pages answer at most this often per address and
# account in the throttle window, so they cannot be used to flood someone's mailbox.
RESET_LIMITS = throttle.Limits(per_pair=3, per_account=3, per_address=10)
# Links guessed from one address: past LINK_LIMITS unknown links in the throttle window, the
# address gets no answer about links any more (see throttle.counted_link).
LINK_THROTTLE_AREA = "client-link"
LINK_LIMITS = throttle.LINK_LIMITS
T = TypeVar("T")


@dataclass(frozen=True)
class ClientUser:
    """A user of the client area, working in one of its accounts (`id`, the client). What it
    may see and do there is its membership's: `may(permission)`."""

    id: int  # the account (client) the user works in
    user_id: int
    company_id: int
    username: str
    name: str
    language: str
    session_epoch: int
    owner: bool
    permissions: frozenset[str]
    accounts: tuple[users.Membership, ...]  # the user's active accounts, for the switcher
    # The staff member working as the account's owner (Login as Client).
    acting_staff: str = ""
    acting_staff_id: int | None = None
    email: str = ""
    # The user must verify its email address and has not (the client area's banner).
    email_unverified: bool = False

    def may(self, permission: str) -> bool:
        return self.owner or permission in self.permissions

    def require(self, permission: str) -> None:
        """Forbidden unless the user may do `permission` in this account."""
        if not self.may(permission):
            raise Forbidden(f"account.{permission}")

    @property
    def actor(self) -> Actor:
        """The user as the actor of a change; what staff do as the client is named after them
        in the logs (still with the client's rights)."""
        if self.acting_staff:
            name = f"{self.acting_staff} (staff, as {self.name})"
            return Actor(kind="client", id=self.user_id, name=name)
        return Actor(kind="client", id=self.user_id, name=self.name)


async def _user(user_id: int, account_id: int | None = None) -> ClientUser | None:
    """The user in the account (by default its first active one) while the account is active
    and the user belongs to it; None otherwise."""
    row = (
        await AccountUser.select(
            AccountUser.id,
            AccountUser.company,
            AccountUser.username,
            AccountUser.name,
            AccountUser.language,
            AccountUser.session_epoch,
            AccountUser.email,
            AccountUser.email_verified_at,
        )
        .where(AccountUser.id == user_id)
        .first()
    )
    if row is None:
        return None
    active = tuple(m for m in await users.memberships(user_id) if m.status == "active")
    current = next((m for m in active if account_id is None or m.client_id == account_id), None)
    if current is None:
        return None
    return from_row(
        ClientUser,
        row,
        id=current.client_id,
        user_id=user_id,
        company_id=row["company"],
        owner=current.owner,
        permissions=current.permissions,
        accounts=active,
        # Verified users (most) cost no query for it.
        email_unverified=row["email_verified_at"] is None
        and await verification.must_verify(user_id),
    )


async def session_client(user_id: int, account_id: int, session_epoch: int) -> ClientUser | None:
    """The user of a session, in its account, while it is valid: the account is active, the
    user still belongs to it, and no password change has ended its sessions since."""
    user = await _user(user_id, account_id)
    if user is None or user.session_epoch != session_epoch:
        return None
    return user


async def switch_account(user: ClientUser, account_id: int) -> ClientUser:
    """The user in another of its accounts; NotFound when it is not one of them (or inactive)."""
    switched = await _user(user.user_id, account_id)
    if switched is None:
        raise NotFound()
    return switched


USERS_BY_USERNAME = (
    "SELECT id, password_hash FROM account_user WHERE lower(username) = lower({}) "
    "ORDER BY id LIMIT {}"
)
USERS_BY_EMAIL = (
    "SELECT id, password_hash FROM account_user WHERE lower(email) = lower({}) ORDER BY id LIMIT {}"
)


async def _candidates(identifier: str) -> list[dict]:
    """Users an identifier may name: those with it as their username, and those with it as
    their email. Both: a username may be written like another user's email address, and that
    user still signs in (and gets reset links) with it; the password tells them apart."""
    if not identifier:
        return []
    found: dict[int, dict] = {}
    # Usernames are unique per company: the users of a few companies may share one.
    for query in (USERS_BY_USERNAME, USERS_BY_EMAIL):
        rows = await AccountUser.raw(query, identifier, MAX_EMAIL_CANDIDATES)
        found.update((row["id"], row) for row in rows if row["id"] not in found)
    return list(found.values())


async def _log_sign_in(
    user_id: int, account_ids: list[int], address: str, kind: str, summary: str
) -> None:
    rows = await Client.select(Client.id, Client.company).where(Client.id.is_in(account_ids or [0]))
    name = await AccountUser.select(AccountUser.name).where(AccountUser.id == user_id).first()
    actor = Actor(kind="client", id=user_id, address=address, name=name["name"] if name else "")
    for row in rows:
        await activity.record(row["company"], actor, kind, summary, client_id=row["id"])


def _account(identifier: str, candidates: list[dict]) -> str:
    """The account an identifier names, for throttling: the user (its username and its email
    are one account), or what was typed when no user has it."""
    if candidates:
        return "user:" + ",".join(str(row["id"]) for row in candidates)
    return f"typed:{identifier}"


async def authenticate(identifier: str, password: str, address: str) -> ClientUser:
    """The user for a username or email and password, in its first active account. Unknown
    users, wrong passwords and users without an active account all get the same answer, after
    the same work."""
    identifier = identifier.strip()[:254]
    candidates = await _candidates(identifier)
    attempt = await throttle.begin(THROTTLE_AREA, _account(identifier, candidates), address)
    if attempt is None:
        raise Throttled()
    matched = None
    for row in candidates or [{"id": None, "password_hash": None}]:
        ok, new_hash = await verify_password(row["password_hash"], password)
        if ok:
            matched = row
            if new_hash:
                await AccountUser.update({AccountUser.password_hash: new_hash}).where(
                    AccountUser.id == row["id"]
                )
            break
    user = await _user(matched["id"]) if matched else None
    if user is None:
        await throttle.failed(attempt)
        for row in candidates:
            await _log_sign_in(
                row["id"],
                await users.account_ids(row["id"]),
                address,
                "login_failed",
                "Failed client-area sign-in.",
            )
        raise ValidationError({"": LOGIN_FAILED})
    await throttle.succeeded(attempt)
    await _record_sign_in(user, address, "Signed in to the client area.")
    return user


async def _record_sign_in(user: ClientUser, address: str, summary: str) -> None:
    await _log_sign_in(user.user_id, [user.id], address, "login", summary)
    await AccountUser.update(
        {AccountUser.last_login_at: datetime.now(UTC), AccountUser.last_login_ip: address[:45]}
    ).where(AccountUser.id == user.user_id)


async def signed_in_user(user_id: int, address: str, method: str) -> ClientUser | None:
    """The user of a sign-in whose checks passed (a second factor, a passkey), in its first
    active account; None when it has none any more."""
    user = await _user(user_id)
    if user is not None:
        await _record_sign_in(user, address, f"Signed in to the client area with a {method}.")
    return user


async def must_enrol_two_factor(user: ClientUser) -> bool:
    """Whether the group of one of the user's accounts requires two-factor sign-in and it is
    not on yet: the user turns it on before anything else at this sign-in."""
    if await two_factor.is_enabled(Login("client", user.user_id)):
        return False
    return await on_for_user("require_two_factor", user.user_id)


async def record_security_change(user: ClientUser, address: str, change: str) -> None:
    """A change of the user's own sign-in security: in the activity log of its accounts, and
    mailed to the user (a session someone else holds must not change it unnoticed)."""
    await _log_sign_in(
        user.user_id, [m.client_id for m in user.accounts], address, "clients", change
    )
    await users.mail_user(user.user_id, "security_notice.txt", "security_notice", change=change)


async def company_name(company_id: int) -> str:
    return (await get_company(company_id))["name"]


async def check_mail_request(identifier: str, address: str) -> None:
    """Counts a reset or reminder request; too many raise Throttled. This is all the work a
    request does before it answers: looking the account up and mailing it happen after the
    answer (see the routes), so the time taken does not tell whether an account exists."""
    identifier = identifier.strip()[:254]
    account = _account(identifier, await _candidates(identifier))
    if not await throttle.hit(RESET_THROTTLE_AREA, account, address, RESET_LIMITS):
        raise Throttled()


async def _counted_link(
    token: str, address: str, lookup: Callable[[str], Awaitable[T | None]]
) -> T | None:
    """What a one-time link of the client area names (`lookup`), or None for a used, expired
    or unknown link, which counts against the address: past LINK_LIMITS, Throttled."""
    return await throttle.counted_link(LINK_THROTTLE_AREA, token, address, lookup, LINK_LIMITS)


async def open_invitation(token: str, address: str) -> users.Invitation | None:
    """The invitation of a link while it can be accepted (not used, revoked or expired)."""
    return await _counted_link(token, address, users.invitation_for)


async def send_password_reset(identifier: str) -> None:
    """Emails a reset link to the users the username or email names, if any, that belong to an
    active account."""
    identifier = identifier.strip()[:254]
    for row in await _candidates(identifier):
        if await _user(row["id"]) is not None:
            await _mail_password_link(row["id"], "password_reset", RESET_LIFETIME)


async def send_password_setup(user_id: int) -> None:
    """Emails a user who has no password yet (an imported client) a link to choose one, which
    works for SETUP_LIFETIME: the set-password invitation of an import."""
    await _mail_password_link(user_id, "password_setup", SETUP_LIFETIME)


async def _mail_password_link(user_id: int, template: str, lifetime: timedelta) -> None:
    token, stored_hash = new_token()
    await PasswordResetToken.insert(
        PasswordResetToken(
            user=user_id, token_hash=stored_hash, expires_at=datetime.now(UTC) + lifetime
        )
    )
    await users.mail_user(
        user_id,
        f"{template}.txt",
        template,
        reset_url=f"{get_settings().base_url}/client/reset/{token}",
    )


async def send_username_reminder(email: str) -> None:
    """Emails the usernames of the users with this address that belong to an active account."""
    email = email.strip()[:254]
    rows = await AccountUser.raw(
        "SELECT id, username FROM account_user WHERE lower(email) = lower({}) ORDER BY id LIMIT {}",
        email,
        MAX_EMAIL_CANDIDATES,
    )
    for row in rows:
        if await _user(row["id"]) is not None:
            await users.mail_user(
                row["id"], "username_reminder.txt", "username_reminder", username=row["username"]
            )


async def _usable_reset_token(token: str) -> dict | None:
    """The reset link's token (its id and user) while unused and within its hour."""
    return (
        await PasswordResetToken.select(PasswordResetToken.id, PasswordResetToken.user)
        .where(
            PasswordResetToken.token_hash == token_hash(token),
            PasswordResetToken.used_at.is_null(),
            PasswordResetToken.expires_at > datetime.now(UTC),
        )
        .first()
    )


async def reset_token_is_valid(token: str, address: str) -> bool:
    """Whether a password reset link can still be used (counted like every one-time link)."""

    async def lookup(value: str) -> int | None:
        row = await _usable_reset_token(value)
        return row["id"] if row else None

    return await _counted_link(token, address, lookup) is not None


async def reset_password(token: str, new_password: str) -> None:
    """Sets a new password through a reset link: the link works once, within the hour; the
    password follows the same rules as everywhere (not the user's own email, name or
    username); other sessions of the user end, and the user is told by email."""
    holder = await _usable_reset_token(token)
    if holder is None:
        raise NotFound()
    if problem := password_problem(new_password, user_inputs=await _own_words(holder["user"])):
        raise ValidationError({"password": problem})
    password_hash = await hash_password(new_password)
    async for transaction in write_transactions():
        async with transaction:
            used = (
                await PasswordResetToken.update({PasswordResetToken.used_at: datetime.now(UTC)})
                .where(
                    PasswordResetToken.token_hash == token_hash(token),
                    PasswordResetToken.used_at.is_null(),
                    PasswordResetToken.expires_at > datetime.now(UTC),
                )
                .returning(PasswordResetToken.user)
            )
            if not used:
                raise NotFound()
            user_id = used[0]["user"]
            await AccountUser.update(
                {
                    AccountUser.password_hash: password_hash,
                    AccountUser.session_epoch: AccountUser.session_epoch + 1,
                }
            ).where(AccountUser.id == user_id)
            # Every other link of this user stops working too.
            await PasswordResetToken.update({PasswordResetToken.used_at: datetime.now(UTC)}).where(
                PasswordResetToken.user == user_id, PasswordResetToken.used_at.is_null()
            )
            await logins.end_all("client", [user_id])
    await users.mail_user(user_id, "password_changed.txt", "password_changed")


async def _own_words(user_id: int) -> tuple[str, ...]:
    """What a user's password must not be: its username, email and name."""
    row = (
        await AccountUser.select(AccountUser.username, AccountUser.email, AccountUser.name)
        .where(AccountUser.id == user_id)
        .first()
    )
    return (row["username"], row["email"], *row["name"].split()) if row else ()


async def change_password(
    user: ClientUser, current_password: str, new_password: str, address: str
) -> int:
    """Changes the user's password after checking the current one (throttled); other sessions
    end. Returns the new session epoch, which the caller's own session takes on."""
    if user.acting_staff:
        raise ValidationError({"": NOT_AS_STAFF})
    errors: dict[str, str] = {}
    if problem := password_problem(new_password, user_inputs=await _own_words(user.user_id)):
        errors["new_password"] = problem
    try:
        await confirm_password(user, current_password, address, "current_password")
    except ValidationError as error:
        errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(new_password)
    updated = (
        await AccountUser.update(
            {
                AccountUser.password_hash: password_hash,
                AccountUser.session_epoch: AccountUser.session_epoch + 1,
            }
        )
        .where(AccountUser.id == user.user_id)
        .returning(AccountUser.session_epoch)
    )
    await users.mail_user(user.user_id, "password_changed.txt", "password_changed")
    return updated[0]["session_epoch"]


# --- dashboard ------------------------------------------------------------------------------

RECENT = 5


@dataclass(frozen=True)
class Overview:
    client: ClientView
    company_name: str
    balances: list[billing.Balance] | None  # None: the user may not see them
    invoices: list[dict] | None
    services: list[dict] | None


async def dashboard(user: ClientUser) -> Overview:
    """What the user sees first: the account, what it owes per currency, its latest invoices
    and services (read-only), as far as the user may see them."""
    recent = Page.of(1, RECENT, RECENT)
    may_invoices = user.may("invoices")
    invoices = (
        await billing.list_invoices(user.id, recent, sent_only=True) if may_invoices else None
    )
    return Overview(
        client=await get_client(user.company_id, user.id),
        company_name=(await get_company(user.company_id))["name"],
        balances=await billing.balances(user.id) if may_invoices else None,
        invoices=invoices,
        services=await billing.list_services(user.id, recent) if user.may("services") else None,
    )


# --- own details ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DetailsForm:
    """What the client may see and change of its own details."""

    client: ClientView
    settings: EffectiveSettings
    fields: list[dict]  # custom fields visible to the client
    values: dict[int, str]  # current custom values
    # The email address is the primary contact's login's: only that login's user changes it
    # (after the account was handed over, the owner is another user, whose password proves
    # nothing about that login).
    own_login: bool

    def editable(self, name: str) -> bool:
        """Shown, and not read-only once it has a value (the email: the user's own login's)."""
        if name not in self.settings.shown_fields or (name == "email" and not self.own_login):
            return False
        return name not in self.settings.read_only_fields or not self._value(name)

    def _value(self, name: str) -> str:
        if name in {"phone", "fax"}:
            return "1" if any(n.number_type == name for n in self.client.numbers) else ""
        return str(self.client.contact.get(name, ""))


async def details_form(user: ClientUser) -> DetailsForm:
    user.require("details")
    client = await get_client(user.company_id, user.id)
    settings = await effective_settings(user.company_id, client.group_id, client.id)
    fields = [
        f for f in await list_fields(user.company_id, client.group_id) if f["visible_to_client"]
    ]
    return DetailsForm(
        client=client,
        settings=settings,
        fields=fields,
        values=await custom_values(client.id),
        own_login=client.contact.get("login") == user.user_id,
    )


def merge_own_details(
    user: ClientUser, form: DetailsForm, submitted: ClientDetails
) -> ClientDetails:
    """The account's current details with what the user may change taken from `submitted`;
    everything else keeps its current value, whatever the request says (hidden and read-only
    fields, group, currency, username...; the email unless it is the user's own login's). Only
    the owner changes the account's language; marketing consent needs the marketing
    permission."""
    details = client_details_of(form.client, form.values)
    for name in CONTACT_FIELDS:
        if name in {"phone", "fax"}:
            continue
        if form.editable(name):
            setattr(details, name, getattr(submitted, name))
    # Numbers of a type the client may not change stay as they are. A submitted number of a
    # type that is no type at all goes on to the check, which refuses it with its message.
    locked_types = {kind for kind in ("phone", "fax") if not form.editable(kind)}
    details.phones = [row for row in details.phones if row.number_type in locked_types] + [
        row for row in submitted.phones if row.number_type not in locked_types
    ]
    for field_row in form.fields:
        if not field_row["read_only_for_client"]:
            details.custom[str(field_row["id"])] = submitted.custom.get(str(field_row["id"]), "")
    if user.owner:
        details.language = submitted.language
    if user.may("marketing"):
        details.marketing_opt_in = submitted.marketing_opt_in
    return details


async def update_own_details(
    user: ClientUser,
    submitted: ClientDetails,
    expected_version: int,
    address: str,
    current_password: str = "",
) -> None:
    """Saves the client's own edit. A new email address (the one the client logs in and gets
    reset links with) needs the current password too, and the old address is told (by
    update_client, as for every change of a login's address): a stolen session alone must not
    be enough to take the account over for good."""
    form = await details_form(user)
    details = merge_own_details(user, form, submitted)
    old_email = form.client.contact["email"]
    email_changes = details.email.strip().casefold() != old_email.casefold()
    if email_changes:
        if user.acting_staff:
            raise ValidationError({"email": NOT_AS_STAFF})
        if not current_password:
            message = N_("To change your email address, enter your current password.")
            raise ValidationError({"current_password": message})
        await confirm_password(user, current_password, address, "current_password")
    await update_client(
        user.company_id,
        user.id,
        details,
        expected_version=expected_version,
        new_password=None,
        actor=replace(user.actor, address=address),
        source="client-area",
    )


async def confirm_password(
    user: ClientUser, password: str, address: str, field: str = "password"
) -> None:
    """The client's current password, for a sensitive change; throttled like a login. Its
    errors are under `field`."""
    if not password:
        raise ValidationError({field: N_("Enter your current password.")})
    attempt = await throttle.begin(CONFIRM_THROTTLE_AREA, f"user:{user.user_id}", address)
    if attempt is None:
        raise Throttled()
    row = (
        await AccountUser.select(AccountUser.password_hash)
        .where(AccountUser.id == user.user_id)
        .first()
    )
    ok, _ = await verify_password(row["password_hash"] if row else None, password)
    if not ok:
        await throttle.failed(attempt)
        raise ValidationError({field: N_("The current password is not correct.")})
    await throttle.succeeded(attempt)
