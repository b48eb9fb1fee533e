"""The client self-service area: logging in, password reset, username reminder, and a client's
own details. Every rule about clients themselves stays in portal.clients.services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.activity import services as activity
from portal.billing import services as billing
from portal.client_area.tables import PasswordResetToken
from portal.client_groups.services import (
    CONTACT_FIELDS,
    EffectiveSettings,
    custom_values,
    effective_settings,
    list_fields,
)
from portal.clients.forms import client_details_of
from portal.clients.services import (
    ClientDetails,
    ClientView,
    get_client,
    update_client,
)
from portal.clients.tables import Client, Contact
from portal.companies.services import get_company
from portal.core import throttle
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.db import write_transactions
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.i18n import N_
from portal.core.pagination import Page
from portal.core.passwords import hash_password, password_problem, verify_password
from portal.core.tokens import new_token, token_hash
from portal.mail import services as mail

THROTTLE_AREA = "client"
RESET_THROTTLE_AREA = "client-reset"
CONFIRM_THROTTLE_AREA = "client-confirm"
LOGIN_FAILED = N_("Username or password is incorrect.")
RESET_LIFETIME = timedelta(hours=1)
# Clients sharing an email address or (in several companies) a username: at most this many are
# tried for one login.
MAX_EMAIL_CANDIDATES = 5
# The password reset and username reminder pages answer at most this often per address and
# account in the throttle window, so they cannot be used to flood someone's mailbox.
RESET_LIMITS = throttle.Limits(per_pair=3, per_account=3, per_address=10)


@dataclass(frozen=True)
class ClientUser:
    """The client a session belongs to."""

    id: int
    company_id: int
    username: str
    first_name: str
    last_name: str
    language: str
    session_epoch: int

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


async def _user(client_id: int) -> ClientUser | None:
    row = (
        await Client.select(
            Client.id,
            Client.company,
            Client.username,
            Client.status,
            Client.language,
            Client.session_epoch,
        )
        .where(Client.id == client_id)
        .first()
    )
    if row is None or row["status"] != "active":
        return None
    contact = (
        await Contact.select(Contact.first_name, Contact.last_name)
        .where(Contact.client == client_id, Contact.contact_type == "primary")
        .first()
    )
    return ClientUser(
        id=row["id"],
        company_id=row["company"],
        username=row["username"],
        first_name=contact["first_name"] if contact else "",
        last_name=contact["last_name"] if contact else "",
        language=row["language"],
        session_epoch=row["session_epoch"],
    )


async def session_client(client_id: int, session_epoch: int) -> ClientUser | None:
    """The client of a session while it is valid: the account is active and neither a password
    change nor a status change has ended its sessions since."""
    user = await _user(client_id)
    if user is None or user.session_epoch != session_epoch:
        return None
    return user


async def _candidates(identifier: str) -> list[dict]:
    """Accounts an identifier may name: the username, else primary contacts with that email."""
    if not identifier:
        return []
    # Usernames are unique per company: the accounts of a few companies may share one.
    by_username = await Client.raw(
        "SELECT id, password_hash, status FROM client WHERE lower(username) = lower({}) "
        "ORDER BY id LIMIT {}",
        identifier,
        MAX_EMAIL_CANDIDATES,
    )
    if by_username:
        return by_username
    return await Client.raw(
        "SELECT client.id, client.password_hash, client.status FROM client "
        "JOIN contact ON contact.client = client.id AND contact.contact_type = 'primary' "
        "WHERE lower(contact.email) = lower({}) ORDER BY client.id LIMIT {}",
        identifier,
        MAX_EMAIL_CANDIDATES,
    )


async def _log_sign_in(client_id: int, address: str, kind: str, summary: str) -> None:
    row = await Client.select(Client.company, Client.code).where(Client.id == client_id).first()
    if row:
        actor = Actor(kind="client", id=client_id, address=address, name=f"Client {row['code']}")
        await activity.record(row["company"], actor, kind, summary, client_id=client_id)


def _account(identifier: str, candidates: list[dict]) -> str:
    """The account an identifier names, for throttling: the client (its username and its
    email are one account), or what was typed when no client has it."""
    if candidates:
        return "client:" + ",".join(str(row["id"]) for row in candidates)
    return f"typed:{identifier}"


async def authenticate(identifier: str, password: str, address: str) -> ClientUser:
    """The client for a username or email and password. Unknown accounts, wrong passwords and
    inactive or fraud accounts all get the same answer, after the same work."""
    identifier = identifier.strip()[:254]
    candidates = await _candidates(identifier)
    attempt = await throttle.begin(THROTTLE_AREA, _account(identifier, candidates), address)
    if attempt is None:
        raise Throttled()
    matched = None
    for row in candidates or [{"id": None, "password_hash": None, "status": ""}]:
        ok, new_hash = await verify_password(row["password_hash"], password)
        if ok:
            matched = row
            if new_hash:
                await Client.update({Client.password_hash: new_hash}).where(Client.id == row["id"])
            break
    user = await _user(matched["id"]) if matched else None
    if user is None:
        await throttle.failed(attempt)
        for row in candidates:
            await _log_sign_in(row["id"], address, "login_failed", "Failed client-area sign-in.")
        raise ValidationError({"": LOGIN_FAILED})
    await throttle.succeeded(attempt)
    await _log_sign_in(user.id, address, "login", "Signed in to the client area.")
    await Client.update(
        {Client.last_login_at: datetime.now(UTC), Client.last_login_ip: address[:45]}
    ).where(Client.id == user.id)
    return user


async def check_mail_request(identifier: str, address: str) -> None:
    """Counts a reset or reminder request; too many raise Throttled. This is all the work a
    request does before it answers: looking the account up and mailing it happen after the
    answer (see the routes), so the time taken does not tell whether an account exists."""
    identifier = identifier.strip()[:254]
    account = _account(identifier, await _candidates(identifier))
    if not await throttle.hit(RESET_THROTTLE_AREA, account, address, RESET_LIMITS):
        raise Throttled()


async def send_password_reset(identifier: str) -> None:
    """Emails a reset link to the accounts the username or email names, if any."""
    identifier = identifier.strip()[:254]
    for row in await _candidates(identifier):
        if row["status"] != "active":
            continue
        token, stored_hash = new_token()
        await PasswordResetToken.insert(
            PasswordResetToken(
                client=row["id"],
                token_hash=stored_hash,
                expires_at=datetime.now(UTC) + RESET_LIFETIME,
            )
        )
        await _mail_client(
            row["id"],
            "password_reset.txt",
            "password_reset",
            reset_url=f"{get_settings().base_url}/client/reset/{token}",
        )


async def send_username_reminder(email: str) -> None:
    """Emails the usernames of the accounts whose primary contact has this address."""
    email = email.strip()[:254]
    rows = await Client.raw(
        "SELECT client.id, client.username FROM client "
        "JOIN contact ON contact.client = client.id AND contact.contact_type = 'primary' "
        "WHERE lower(contact.email) = lower({}) AND client.status = 'active' "
        "ORDER BY client.id LIMIT {}",
        email,
        MAX_EMAIL_CANDIDATES,
    )
    for row in rows:
        await _mail_client(
            row["id"], "username_reminder.txt", "username_reminder", username=row["username"]
        )


async def _mail_client(
    client_id: int, template: str, kind: str, to: str | None = None, **context: str
) -> None:
    """Mails the client (its primary email, or `to`) in its language."""
    row = await Client.select(Client.company, Client.language).where(Client.id == client_id).first()
    client = await get_client(row["company"], client_id)
    company = await get_company(row["company"])
    subject, body = mail.render(
        template,
        client.language,
        company=company["name"],
        first_name=client.contact["first_name"],
        login_url=f"{get_settings().base_url}/client/login",
        **context,
    )
    await mail.send(
        company["id"],
        company["name"],
        mail.Mail(
            to=to or client.contact["email"],
            subject=subject,
            body_text=body,
            kind=kind,
            client_id=client_id,
        ),
    )


async def reset_token_is_valid(token: str) -> bool:
    row = (
        await PasswordResetToken.select(PasswordResetToken.id)
        .where(
            PasswordResetToken.token_hash == token_hash(token),
            PasswordResetToken.used_at.is_null(),
            PasswordResetToken.expires_at > datetime.now(UTC),
        )
        .first()
    )
    return row is not None


async def reset_password(token: str, new_password: str) -> None:
    """Sets a new password through a reset link: the link works once, within the hour; the
    password follows the same rules as everywhere (not the account's own email, name or
    username); other sessions of the client end, and the client is told by email."""
    holder = (
        await PasswordResetToken.select(PasswordResetToken.client)
        .where(
            PasswordResetToken.token_hash == token_hash(token),
            PasswordResetToken.used_at.is_null(),
            PasswordResetToken.expires_at > datetime.now(UTC),
        )
        .first()
    )
    if holder is None:
        raise NotFound()
    if problem := password_problem(new_password, user_inputs=await _own_words(holder["client"])):
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
                .returning(PasswordResetToken.client)
            )
            if not used:
                raise NotFound()
            client_id = used[0]["client"]
            await Client.update(
                {
                    Client.password_hash: password_hash,
                    Client.session_epoch: Client.session_epoch + 1,
                }
            ).where(Client.id == client_id)
            # Every other link of this client stops working too.
            await PasswordResetToken.update({PasswordResetToken.used_at: datetime.now(UTC)}).where(
                PasswordResetToken.client == client_id, PasswordResetToken.used_at.is_null()
            )
    await _mail_client(client_id, "password_changed.txt", "password_changed")


async def _own_words(client_id: int) -> tuple[str, ...]:
    """What a client's password must not be: its username, email and names."""
    rows = await Client.raw(
        "SELECT c.username, ct.email, ct.first_name, ct.last_name FROM client c "
        "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' WHERE c.id = {}",
        client_id,
    )
    return tuple(rows[0].values()) if rows else ()


async def change_password(user: ClientUser, current_password: str, new_password: str) -> int:
    """Changes the password after checking the current one; other sessions end. Returns the
    new session epoch, which the caller's own session takes on."""
    row = await Client.select(Client.password_hash).where(Client.id == user.id).first()
    ok, _ = await verify_password(row["password_hash"] if row else None, current_password)
    errors = {} if ok else {"current_password": N_("The current password is not correct.")}
    if problem := password_problem(new_password, user_inputs=await _own_words(user.id)):
        errors["new_password"] = problem
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(new_password)
    updated = (
        await Client.update(
            {Client.password_hash: password_hash, Client.session_epoch: Client.session_epoch + 1}
        )
        .where(Client.id == user.id)
        .returning(Client.session_epoch)
    )
    await _mail_client(user.id, "password_changed.txt", "password_changed")
    return updated[0]["session_epoch"]


# --- dashboard ------------------------------------------------------------------------------

RECENT = 5


@dataclass(frozen=True)
class Overview:
    client: ClientView
    company_name: str
    balances: list[billing.Balance]
    invoices: list[dict]
    services: list[dict]


async def dashboard(user: ClientUser) -> Overview:
    """What the client sees first: who it is, what it owes per currency, its latest invoices
    and services (read-only)."""
    recent = Page.of(1, RECENT, RECENT)
    return Overview(
        client=await get_client(user.company_id, user.id),
        company_name=(await get_company(user.company_id))["name"],
        balances=await billing.balances(user.id),
        invoices=await billing.list_invoices(user.id, recent),
        services=await billing.list_services(user.id, recent),
    )


# --- own details ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DetailsForm:
    """What the client may see and change of its own details."""

    client: ClientView
    settings: EffectiveSettings
    fields: list[dict]  # custom fields visible to the client
    values: dict[int, str]  # current custom values

    def editable(self, name: str) -> bool:
        """Shown, and not read-only once it has a value."""
        if name not in self.settings.shown_fields:
            return False
        return name not in self.settings.read_only_fields or not self._value(name)

    def _value(self, name: str) -> str:
        if name in {"phone", "fax"}:
            return "1" if any(n.number_type == name for n in self.client.numbers) else ""
        return str(self.client.contact.get(name, ""))


async def details_form(user: ClientUser) -> DetailsForm:
    client = await get_client(user.company_id, user.id)
    settings = await effective_settings(user.company_id, client.group_id, client.id)
    fields = [
        f for f in await list_fields(user.company_id, client.group_id) if f["visible_to_client"]
    ]
    return DetailsForm(
        client=client, settings=settings, fields=fields, values=await custom_values(client.id)
    )


def merge_own_details(form: DetailsForm, submitted: ClientDetails) -> ClientDetails:
    """The client's current details with what it may change taken from `submitted`; everything
    else keeps its current value, whatever the request says (hidden and read-only fields,
    group, currency, username...)."""
    details = client_details_of(form.client, form.values)
    for name in CONTACT_FIELDS:
        if name not in {"phone", "fax"} and form.editable(name):
            setattr(details, name, getattr(submitted, name))
    # Numbers of a type the client may not change stay as they are.
    editable_types = {kind for kind in ("phone", "fax") if form.editable(kind)}
    details.phones = [row for row in details.phones if row.number_type not in editable_types] + [
        row for row in submitted.phones if row.number_type in editable_types
    ]
    for field_row in form.fields:
        if not field_row["read_only_for_client"]:
            details.custom[str(field_row["id"])] = submitted.custom.get(str(field_row["id"]), "")
    details.language = submitted.language
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
    reset links with) needs the current password too, and the old address is told: a stolen
    session alone must not be enough to take the account over for good."""
    form = await details_form(user)
    details = merge_own_details(form, submitted)
    old_email = form.client.contact["email"]
    email_changes = details.email.strip().casefold() != old_email.casefold()
    if email_changes:
        await _confirm_password(user, current_password, address)
    await update_client(
        user.company_id,
        user.id,
        details,
        expected_version=expected_version,
        new_password=None,
        actor=Actor(kind="client", id=user.id, address=address, name=user.name),
        source="client-area",
    )
    if email_changes:
        new_email = (await get_client(user.company_id, user.id)).contact["email"]
        await _mail_client(
            user.id, "email_changed.txt", "email_changed", to=old_email, new_email=new_email
        )


async def _confirm_password(user: ClientUser, password: str, address: str) -> None:
    """The client's current password, for a sensitive change; throttled like a login."""
    if not password:
        raise ValidationError(
            {"current_password": N_("To change your email address, enter your current password.")}
        )
    attempt = await throttle.begin(CONFIRM_THROTTLE_AREA, f"client:{user.id}", address)
    if attempt is None:
        raise Throttled()
    row = await Client.select(Client.password_hash).where(Client.id == user.id).first()
    ok, _ = await verify_password(row["password_hash"] if row else None, password)
    if not ok:
        await throttle.failed(attempt)
        raise ValidationError({"current_password": N_("The current password is not correct.")})
    await throttle.succeeded(attempt)
