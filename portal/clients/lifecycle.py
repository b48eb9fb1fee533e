"""A client's life as staff steer it from the profile: status (Active, Inactive, Fraud), email
from staff, and deletion.

Inactive and Fraud keep every record and refuse every user of the account: the client area
checks the account's status on every request, and any status change moves on the session epoch
of the account's users, so their sessions end at once (and stay ended when it is reactivated).
Deleting removes the client and everything of it in one transaction (foreign keys cascade to
contacts and their numbers, memberships and invitations, custom values, settings, consent
records, notes, invoices, transactions, services, the mail log, the search document), and the
logins that belonged to that account alone; the audit log keeps a single line naming the client
ID and who deleted it."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.activity import services as activity
from portal.clients import audit, users
from portal.clients.services import STATUSES, get_client
from portal.clients.tables import AccountMember, AccountUser, Client, ClientAudit
from portal.companies.services import get_company
from portal.core import throttle
from portal.core.actors import Actor
from portal.core.db import locked, write_transactions
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.forms import Field, without_control_characters
from portal.core.ids import is_row_id
from portal.core.passwords import verify_password
from portal.core.permissions import CLIENTS_DELETE, CLIENTS_EMAIL, CLIENTS_STATUS
from portal.mail import services as mail
from portal.staff.tables import Staff

CONFIRM_THROTTLE_AREA = "staff-confirm"
WRONG_PASSWORD = "That is not your password. Nothing was deleted."  # noqa: S105 - a message
SUBJECT = Field("subject", "Subject", 255, required=True)
MESSAGE = Field("body", "Message", 50_000, required=True)


async def set_status(
    company_id: int, client_id: int, status: str, actor: Actor, *, log_activity: bool = True
) -> bool:
    """Sets the status; returns whether it changed. Any change ends the sessions of the
    account's users. A bulk action (`log_activity` off) logs one activity line for all."""
    actor.require(CLIENTS_STATUS)
    if status not in STATUSES:
        raise ValidationError({"status": "Choose Active, Inactive or Fraud."})
    if not is_row_id(client_id):
        raise NotFound()
    async for transaction in write_transactions():
        async with transaction:
            # Locked until commit, so that the status changed from is the one that is there.
            row = await locked(
                Client.select(Client.status, Client.code).where(
                    Client.id == client_id, Client.company == company_id
                )
            ).first()
            if row is None:
                raise NotFound()
            if row["status"] == status:
                return False
            await Client.update(
                {
                    Client.status: status,
                    Client.version: Client.version + 1,
                    Client.updated_at: datetime.now(UTC),
                }
            ).where(Client.id == client_id, Client.company == company_id)
            await AccountUser.update(
                {AccountUser.session_epoch: AccountUser.session_epoch + 1}
            ).where(
                AccountUser.id.is_in(
                    AccountMember.select(AccountMember.user).where(
                        AccountMember.client == client_id
                    )
                )
            )
            await audit.record(
                company_id,
                client_id,
                row["code"],
                actor,
                [("Status", STATUSES.get(row["status"], row["status"]), STATUSES[status])],
                log_activity=log_activity,
            )
    return True


def _single_line(value: str) -> str:
    return " ".join(without_control_characters(value).splitlines()).strip()


async def email_client(
    company_id: int, client_id: int, subject: str, body: str, actor: Actor
) -> int:
    """Sends a message from staff to the client's primary email, through the mail layer (which
    logs it in the client's mail log and folds line breaks out of headers)."""
    actor.require(CLIENTS_EMAIL)
    errors: dict[str, str] = {}
    subject = _single_line(subject)
    body = body.replace("\x00", "").strip()
    SUBJECT.check(errors, subject)
    MESSAGE.check(errors, body)
    if errors:
        raise ValidationError(errors)
    client = await get_client(company_id, client_id)
    company = await get_company(company_id)
    message_id = await mail.send(
        company_id,
        company["name"],
        mail.Mail(
            to=client.contact["email"],
            subject=subject,
            body_text=body + "\n",
            kind="client_email",
            client_id=client_id,
        ),
    )
    async for transaction in write_transactions():
        async with transaction:
            await audit.record(company_id, client_id, client.code, actor, [("Email", "", subject)])
    return message_id


async def delete_client(
    company_id: int, client_id: int, *, staff_id: int, password: str, actor: Actor
) -> str:
    """Deletes the client and everything of it, once the staff member has confirmed with their
    own password. Returns the client ID (code) that was deleted. A wrong password deletes
    nothing; repeated wrong passwords are throttled like logins."""
    actor.require(CLIENTS_DELETE)
    await audit.client_code(company_id, client_id)  # NotFound unless the company's client
    await confirm_password(staff_id, password, actor.address)
    async for transaction in write_transactions():
        async with transaction:
            code = await remove_client(company_id, client_id, actor)
            if code is None:
                raise NotFound()  # deleted meanwhile
    return code


async def confirm_password(
    staff_id: int, password: str, address: str, wrong: str = WRONG_PASSWORD
) -> None:
    """The staff member's own password, asked again before clients are deleted (or
    anonymised): a wrong one raises ValidationError (`wrong` beside the field), and repeated
    wrong ones are throttled like logins (Throttled)."""
    attempt = await throttle.begin(CONFIRM_THROTTLE_AREA, f"staff:{staff_id}", address)
    if attempt is None:
        raise Throttled()
    staff = await Staff.select(Staff.password_hash).where(Staff.id == staff_id).first()
    ok, _ = await verify_password(staff["password_hash"] if staff else None, password or "")
    if not ok:
        await throttle.failed(attempt)
        raise ValidationError({"password": wrong})
    await throttle.succeeded(attempt)


async def remove_client(
    company_id: int, client_id: int, actor: Actor, *, log_activity: bool = True
) -> str | None:
    """Inside a write transaction: deletes the client and everything of it, and the logins
    that belonged to it alone. Returns its client ID (code), or None when the company has no
    such client (any more). A bulk delete (`log_activity` off) logs one activity line for
    all."""
    actor.require(CLIENTS_DELETE)
    # The history holds personal data (old names, addresses): it goes with the client.
    await ClientAudit.delete().where(
        ClientAudit.company == company_id, ClientAudit.client_id == client_id
    )
    await activity.forget_client(company_id, client_id)
    logins = await users.member_ids(client_id)
    deleted = (
        await Client.delete()
        .where(Client.id == client_id, Client.company == company_id)
        .returning(Client.code)
    )
    if not deleted:
        return None
    code = deleted[0]["code"]
    await users.drop_orphan_logins(logins)
    await audit.record(
        company_id,
        client_id,
        code,
        actor,
        [("Client", f"Client ID {code}", "deleted")],
        log_activity=log_activity,
    )
    return code
