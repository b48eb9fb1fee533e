"""What staff do about the sign-in of a client account: Login as Client (with a reason, on an
active client, started and ended in the client's History and the activity log), resetting a
user's two-factor, and ending every session of the account's users."""

from __future__ import annotations

from dataclasses import dataclass

from portal.clients import audit, users
from portal.clients.tables import AccountUser, Client
from portal.core.actors import Actor
from portal.core.db import write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.ids import is_row_id
from portal.core.permissions import CLIENTS_LOGIN_AS, CLIENTS_SECURITY
from portal.security import logins, two_factor
from portal.security.two_factor import Login

REASON = Field("reason", "Reason", 500, required=True)
LOGIN_AS = "Login as Client"


@dataclass(frozen=True)
class StaffSignIn:
    """A client-area session a staff member opened as the account's owner."""

    user_id: int
    client_id: int
    company_id: int
    session_epoch: int
    language: str
    handle: str


async def _account(company_id: int, client_id: int) -> dict:
    if not is_row_id(client_id):
        raise NotFound()
    row = (
        await Client.select(Client.id, Client.code, Client.status)
        .where(Client.id == client_id, Client.company == company_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def _audit(company_id: int, client: dict, actor: Actor, change: tuple[str, str, str]) -> None:
    """One line in the client's History and the activity log."""
    async for transaction in write_transactions():
        async with transaction:
            await audit.record(company_id, client["id"], client["code"], actor, [change])


async def log_in_as_client(
    company_id: int, client_id: int, reason: str, actor: Actor, user_agent: str
) -> StaffSignIn:
    """Opens a client-area session as the account's owner for the staff member `actor`."""
    actor.require(CLIENTS_LOGIN_AS)
    client = await _account(company_id, client_id)
    errors: dict[str, str] = {}
    reason = reason.strip()
    REASON.check(errors, reason)
    if client["status"] != "active":
        errors[""] = (
            f"Client {client['code']} is {client['status']}: only active clients can be "
            "logged in to."
        )
    if errors:
        raise ValidationError(errors)
    owner = await users.owner_of(client_id)
    if owner is None:
        raise ValidationError({"": f"Client {client['code']} has no login to open."})
    handle = await logins.open_session(
        Login("client", owner["id"]),
        address=actor.address,
        user_agent=user_agent,
        method="staff",
        staff_id=actor.id,
        staff_name=actor.name,
        reason=reason,
    )
    await _audit(company_id, client, actor, (LOGIN_AS, "", f"started by {actor.name}: {reason}"))
    return StaffSignIn(
        user_id=owner["id"],
        client_id=client_id,
        company_id=company_id,
        session_epoch=owner["session_epoch"],
        language=owner["language"],
        handle=handle,
    )


async def end_login_as_client(company_id: int, client_id: int, handle: str, actor: Actor) -> None:
    await logins.end_session(handle)
    try:
        client = await _account(company_id, client_id)
    except NotFound:
        return  # deleted meanwhile: its history went with it
    await _audit(company_id, client, actor, (LOGIN_AS, "", f"ended by {actor.name}"))


async def reset_two_factor(company_id: int, client_id: int, user_id: int, actor: Actor) -> str:
    """Turns off a user's two-factor (a lost phone without recovery codes); the user's name."""
    actor.require(CLIENTS_SECURITY)
    client = await _account(company_id, client_id)
    if not is_row_id(user_id) or await users.membership(user_id, client_id) is None:
        raise NotFound()
    row = await AccountUser.select(AccountUser.name).where(AccountUser.id == user_id).first()
    name = row["name"] if row else ""
    if not await two_factor.disable(Login("client", user_id)):
        raise ValidationError({"": f"{name} does not use two-factor authentication."})
    await logins.end_all("client", [user_id])
    await _audit(
        company_id, client, actor, ("Two-factor authentication", f"on ({name})", "reset by staff")
    )
    return name


async def end_account_sessions(company_id: int, client_id: int, actor: Actor) -> int:
    """Ends every session of the account's users; how many."""
    actor.require(CLIENTS_SECURITY)
    client = await _account(company_id, client_id)
    ended = await logins.end_all("client", await users.member_ids(client_id))
    await _audit(company_id, client, actor, ("Sessions", "", f"{ended} ended by staff"))
    return ended
