"""Staff accounts: first-run setup, sign-in, invitations and forgotten passwords, a staff
member's own profile, and [Settings] > [System] > Staff (the members of a company).

A staff account is one login for the whole install; what it may do is decided per company, by
its membership there (portal.staff.groups). Staff of one company manage only that company's
memberships: a member who also works elsewhere changes their own name and email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.columns.combination import And

from portal.activity import services as activity
from portal.companies.services import (
    CompanyRef,
    all_companies,
    companies_of_staff,
    company_ref_of_row,
    get_company,
)
from portal.companies.tables import CompanySetting
from portal.core import throttle
from portal.core.actors import SYSTEM, Actor
from portal.core.config import get_settings
from portal.core.db import lock_for_insert, read_transaction, write_transactions
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.forms import Field, normalise_email
from portal.core.i18n import LANGUAGES
from portal.core.ids import is_row_id
from portal.core.passwords import hash_password, password_problem, verify_password
from portal.core.permissions import STAFF_MANAGE
from portal.core.rows import from_row
from portal.core.tokens import new_token, token_hash
from portal.mail import services as mail
from portal.security import logins, two_factor
from portal.security.two_factor import Login
from portal.staff import groups
from portal.staff.tables import Staff, StaffCompany, StaffGroup, StaffToken

THROTTLE_AREA = "staff"
RESET_THROTTLE_AREA = "staff-reset"
CONFIRM_THROTTLE_AREA = "staff-confirm"
LINK_THROTTLE_AREA = "staff-link"  # invitation and reset links (throttle.counted_link)
LOGIN_FAILED = "Email or password is incorrect."
INVITATION_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=1)
RESET_LIMITS = throttle.Limits(per_pair=3, per_account=3, per_address=10)
INVITE, RESET = "invite", "reset"
LAST_ADMINISTRATOR = (
    "%s is the last active administrator of this company: make someone else an administrator first."
)

FIRST_NAME = Field("first_name", "First Name", 100)
LAST_NAME = Field("last_name", "Last Name", 100)
EMAIL = Field("email", "Email", 254, required=True, autocomplete="email")


@dataclass(frozen=True)
class StaffUser:
    id: int
    email: str
    first_name: str
    last_name: str
    language: str
    session_epoch: int

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


async def _refuse_taken_email(email: str, staff_id: int | None = None) -> None:
    """Inside the write transaction: the email (a login) is no other staff member's."""
    taken = Staff.exists().where(Staff.email == email)
    if staff_id is not None:
        taken = taken.where(Staff.id != staff_id)
    if await taken:
        raise ValidationError({"email": "A staff member with this email already exists."})


def _checked_email(email: str, errors: dict[str, str]) -> str:
    EMAIL.check(errors, email)
    if "email" in errors:
        return ""
    normalised = normalise_email(email)
    if normalised is None:
        errors["email"] = "Enter a valid email address, like name@example.com."
        return ""
    return normalised.lower()


async def staff_exists() -> bool:
    return await Staff.exists().where(Staff.id.is_not_null())


async def create_staff(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    company_ids: list[int] | None = None,
    group: str = "Administrators",
    only_if_first: bool = False,
) -> int:
    """A staff member working in `company_ids` (all companies when None), in the staff group
    named `group` of each. With `only_if_first`, refuses once any staff member exists (the
    one-time setup form)."""
    errors: dict[str, str] = {}
    normalised = _checked_email(email, errors)
    # Names are asked for at the first run's setup; the CLI may leave them out.
    FIRST_NAME.check(errors, first_name, required=only_if_first)
    LAST_NAME.check(errors, last_name, required=only_if_first)
    if problem := password_problem(password, user_inputs=(email, first_name, last_name)):
        errors["password"] = problem
    if company_ids is None:
        company_ids = [company.id for company in await all_companies()]
    group_ids = []
    for company_id in company_ids:
        try:
            group_ids.append(await groups.group_by_name(company_id, group))
        except NotFound:
            errors["group"] = f"Company {company_id} has no staff group named {group!r}."
    if errors:
        raise ValidationError(errors)

    password_hash = await hash_password(password)
    async for transaction in write_transactions():
        async with transaction:
            await lock_for_insert("staff")
            if only_if_first and await staff_exists():
                raise ValidationError(
                    {"": "The administrator has already been created. Log in instead."}
                )
            await _refuse_taken_email(normalised)
            rows = await Staff.insert(
                Staff(
                    email=normalised,
                    first_name=first_name,
                    last_name=last_name,
                    password_hash=password_hash,
                )
            ).returning(Staff.id)
            staff_id = rows[0]["id"]
            if company_ids:
                await StaffCompany.insert(
                    *(
                        StaffCompany(staff=staff_id, company=company_id, staff_group=group_id)
                        for company_id, group_id in zip(company_ids, group_ids, strict=True)
                    )
                )
    return staff_id


# --- signing in -------------------------------------------------------------------------------


def _actor_of(row: dict, address: str) -> Actor:
    name = f"{row['first_name']} {row['last_name']}".strip() or row["email"]
    return Actor(kind="staff", id=row["id"], address=address, name=name)


async def _member_company_ids(staff_id: int) -> list[int]:
    return [company.id for company in await companies_of_staff(staff_id)]


async def authenticate(email: str, password: str, address: str) -> StaffUser:
    """The staff member for these credentials. Unknown email, wrong password and an inactive
    account all raise the same ValidationError; too many failures raise Throttled. Sign-ins
    and failed ones of known accounts go to the activity log of each company they work in."""
    identifier = email.strip().lower()[:254]
    row = await Staff.select().where(Staff.email == identifier).first() if identifier else None
    account = f"staff:{row['id']}" if row else f"typed:{identifier}"
    attempt = await throttle.begin(THROTTLE_AREA, account, address)
    if attempt is None:
        if row:
            await activity.record_many(
                await _member_company_ids(row["id"]),
                _actor_of(row, address),
                "login_failed",
                "Sign-in refused: too many failed attempts.",
            )
        raise Throttled()
    ok, new_hash = await verify_password(row["password_hash"] if row else None, password)
    if not ok or row is None or row["status"] != "active":
        await throttle.failed(attempt)
        if row:
            await activity.record_many(
                await _member_company_ids(row["id"]),
                _actor_of(row, address),
                "login_failed",
                "Failed sign-in (wrong password)." if not ok else "Sign-in of a disabled account.",
            )
        raise ValidationError({"": LOGIN_FAILED})
    await throttle.succeeded(attempt)
    values = {Staff.last_login_at: datetime.now(UTC)}
    if new_hash:
        values[Staff.password_hash] = new_hash
    await Staff.update(values).where(Staff.id == row["id"])
    await activity.record_many(
        await _member_company_ids(row["id"]), _actor_of(row, address), "login", "Signed in."
    )
    return from_row(StaffUser, row)


async def active_staff(staff_id: int) -> StaffUser | None:
    """An active staff member, for a sign-in whose checks passed (second factor, passkey)."""
    row = await Staff.select().where(Staff.id == staff_id).first()
    return from_row(StaffUser, row) if row is not None and row["status"] == "active" else None


async def session_staff(staff_id: int, session_epoch: int) -> StaffUser | None:
    """The staff member a session names, if that session is still valid for them."""
    row = await Staff.select().where(Staff.id == staff_id).first()
    if row is None or row["status"] != "active" or row["session_epoch"] != session_epoch:
        return None
    return from_row(StaffUser, row)


@dataclass(frozen=True)
class SignedIn:
    staff: StaffUser
    companies: list[tuple[CompanyRef, groups.Membership]]  # where they may work, by name


async def signed_in_staff(staff_id: int, session_epoch: int, login_handle: str) -> SignedIn | None:
    """The staff member a web session names, if that session is still valid for them (the
    member active, the session of their current epoch, its login not ended), with every
    company they may work in, their group there and its permissions. One query on every
    admin request."""
    if not is_row_id(staff_id) or not login_handle:
        return None
    rows = await Staff.raw(
        "SELECT s.id AS staff_id, s.email, s.first_name, s.last_name, s.language, "
        "s.session_epoch, s.status, l.id AS login_row, l.last_seen_at, "
        "c.id, c.name, c.logo_version, c.logo_type, c.timezone, c.date_format, "
        "g.id AS group_id, g.name AS group_name, g.builtin, p.permission FROM staff s "
        "JOIN login_session l ON l.user_id = s.id AND l.kind = 'staff' AND l.handle = {} "
        "AND l.ended_at IS NULL "
        "LEFT JOIN staff_company m ON m.staff = s.id AND m.active = {} "
        "LEFT JOIN company c ON c.id = m.company "
        "LEFT JOIN staff_group g ON g.id = m.staff_group "
        'LEFT JOIN staff_group_permission p ON p."group" = g.id '
        "WHERE s.id = {} ORDER BY c.name, c.id",
        login_handle[:64],
        True,
        staff_id,
    )
    if not rows or rows[0]["status"] != "active" or rows[0]["session_epoch"] != session_epoch:
        return None
    await logins.mark_seen(rows[0]["login_row"], rows[0]["last_seen_at"])
    found: dict[int, tuple[CompanyRef, dict, set[str]]] = {}
    for row in rows:
        if row["id"] is None or row["group_id"] is None:
            continue  # no company (yet, or any more)
        company = found.setdefault(row["id"], (company_ref_of_row(row), row, set()))
        if row["permission"] is not None:
            company[2].add(row["permission"])
    return SignedIn(
        staff=from_row(StaffUser, rows[0], id=rows[0]["staff_id"]),
        companies=[
            (company, groups.membership_of(company.id, group, permissions))
            for company, group, permissions in found.values()
        ],
    )


# --- the members of a company -----------------------------------------------------------------


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str
    first_name: str
    last_name: str
    language: str
    group_id: int
    group_name: str
    is_administrator: bool
    active: bool
    invited: bool  # has not set a password yet
    last_login_at: datetime | None
    other_companies: int  # where else they work: their own details are theirs to change there

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def status_label(self) -> str:
        if not self.active:
            return "Disabled"
        return "Invited" if self.invited else "Active"


@dataclass
class ProfileDetails:
    """One's own details; staff managers set them for a member (MemberDetails) too."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    language: str = "en"


@dataclass
class MemberDetails(ProfileDetails):
    group_id: int = 0


async def list_members(company_id: int) -> list[StaffMember]:
    async with read_transaction():
        rows = await Staff.raw(
            "SELECT s.id, s.email, s.first_name, s.last_name, s.language, s.password_hash, "
            "s.last_login_at, m.active, g.id AS group_id, g.name AS group_name, g.builtin, "
            "(SELECT COUNT(*) FROM staff_company o WHERE o.staff = s.id AND o.company <> {}) "
            "AS other_companies "
            "FROM staff_company m JOIN staff s ON s.id = m.staff "
            "JOIN staff_group g ON g.id = m.staff_group "
            "WHERE m.company = {} ORDER BY lower(s.first_name), lower(s.last_name), s.id",
            company_id,
            company_id,
        )
    return [
        from_row(
            StaffMember,
            row,
            is_administrator=row["builtin"] == groups.ADMINISTRATORS,
            active=bool(row["active"]),
            invited=not row["password_hash"],
        )
        for row in rows
    ]


def _membership(staff_id: int, company_id: int) -> And:
    """The where() of the staff member's link to the company."""
    return (StaffCompany.staff == staff_id) & (StaffCompany.company == company_id)


async def get_member(company_id: int, staff_id: int) -> StaffMember:
    if is_row_id(staff_id):
        for member in await list_members(company_id):
            if member.id == staff_id:
                return member
    raise NotFound()


async def _check_group(company_id: int, group_id: int, errors: dict[str, str]) -> None:
    if not is_row_id(group_id) or not await StaffGroup.exists().where(
        StaffGroup.id == group_id, StaffGroup.company == company_id
    ):
        errors["group_id"] = "Choose a staff group from the list."


def _check_names(details: ProfileDetails, errors: dict[str, str]) -> None:
    FIRST_NAME.check(errors, details.first_name, required=True)
    LAST_NAME.check(errors, details.last_name, required=True)
    if details.language not in LANGUAGES:
        errors["language"] = "Choose a language from the list."


def _details_values(details: ProfileDetails, email: str) -> dict[str, Any]:
    """The staff row's values for the details; `email` as checked (normalised)."""
    return {
        "first_name": details.first_name,
        "last_name": details.last_name,
        "email": email,
        "language": details.language,
    }


async def invite_member(company_id: int, details: MemberDetails, actor: Actor) -> int:
    """Adds a staff member to the company in a staff group. Someone new gets an invitation: a
    link to choose their password, valid for a week, once. Someone who already signs in to
    another company is told they may now work in this one."""
    actor.require(STAFF_MANAGE)
    errors: dict[str, str] = {}
    email = _checked_email(details.email, errors)
    _check_names(details, errors)
    await _check_group(company_id, details.group_id, errors)
    if errors:
        raise ValidationError(errors)
    new_group = await groups.get_group(company_id, details.group_id)
    groups.require_within(actor, new_group.permissions, "group_id", groups.GIVING_MORE)
    token, stored_hash = new_token()
    async for transaction in write_transactions():
        async with transaction:
            await lock_for_insert("staff")
            existing = await Staff.select().where(Staff.email == email).first()
            if existing and await StaffCompany.exists().where(
                _membership(existing["id"], company_id)
            ):
                raise ValidationError({"email": "This person is already a staff member here."})
            if existing:
                staff_id = existing["id"]
            else:
                rows = await Staff.insert(
                    Staff(**_details_values(details, email), password_hash="")
                ).returning(Staff.id)
                staff_id = rows[0]["id"]
            # Someone who has never chosen a password (new, or invited elsewhere) gets a link.
            invited = existing is None or not existing["password_hash"]
            if invited:
                await _new_link(staff_id, INVITE, stored_hash)
            await StaffCompany.insert(
                StaffCompany(staff=staff_id, company=company_id, staff_group=details.group_id)
            )
            group = await groups.get_group(company_id, details.group_id)
            await activity.record(
                company_id,
                actor,
                "staff",
                f"Added {details.first_name} {details.last_name} ({email}) to the staff, "
                f"in {group.name}.",
            )
    if invited:
        await _mail_invitation(staff_id, await get_company(company_id), token, actor)
    else:
        await _mail_staff(
            staff_id, company_id, "staff_added.txt", "staff_added", inviter=actor.name or ""
        )
    return staff_id


async def _mail_invitation(staff_id: int, company: dict, token: str, actor: Actor) -> None:
    await _mail_staff(
        staff_id,
        company["id"],
        "staff_invitation.txt",
        "staff_invitation",
        inviter=actor.name or "",
        link=f"{get_settings().base_url}/admin/invitation/{token}",
        days=str(INVITATION_LIFETIME.days),
    )


async def resend_invitation(company_id: int, staff_id: int, actor: Actor) -> None:
    """A new invitation link for someone who has not chosen a password yet; older links of
    theirs stop working."""
    actor.require(STAFF_MANAGE)
    member = await get_member(company_id, staff_id)
    await _require_within(company_id, member, actor)
    if not member.invited:
        raise ValidationError({"": f"{member.name} has already accepted the invitation."})
    token, stored_hash = new_token()
    async for transaction in write_transactions():
        async with transaction:
            await _new_link(staff_id, INVITE, stored_hash)
            await activity.record(
                company_id, actor, "staff", f"Sent {member.name} a new invitation."
            )
    await _mail_invitation(staff_id, await get_company(company_id), token, actor)


LINK_LIFETIMES = {INVITE: INVITATION_LIFETIME, RESET: RESET_LIFETIME}


async def _new_link(staff_id: int, purpose: str, stored_hash: str) -> None:
    """A one-time link of the account; its older links stop working."""
    await _end_links(staff_id)
    await StaffToken.insert(
        StaffToken(
            staff=staff_id,
            purpose=purpose,
            token_hash=stored_hash,
            expires_at=datetime.now(UTC) + LINK_LIFETIMES[purpose],
        )
    )


async def _end_links(staff_id: int) -> None:
    await StaffToken.update({StaffToken.used_at: datetime.now(UTC)}).where(
        StaffToken.staff == staff_id, StaffToken.used_at.is_null()
    )


async def _refuse_leaving_no_administrator(company_id: int, member: StaffMember) -> None:
    """Call inside the write transaction of a change that takes `member` out of the company's
    active administrators."""
    await groups.lock_administrators(company_id)
    if member.is_administrator and member.active and not member.invited:
        if await groups.active_administrators(company_id, besides=member.id) == 0:
            raise ValidationError({"": LAST_ADMINISTRATOR % member.name})


async def _require_within(company_id: int, member: StaffMember, actor: Actor) -> None:
    """Staff manage only members whose group holds nothing theirs does not."""
    held = (await groups.get_group(company_id, member.group_id)).permissions
    groups.require_within(actor, held, "", f"{member.name} holds permissions you do not")


def _refuse_self(member: StaffMember, actor: Actor, action: str) -> None:
    if actor.kind == "staff" and actor.id == member.id:
        raise ValidationError(
            {"": f"You cannot {action} your own account: ask another administrator."}
        )


async def update_member(
    company_id: int, staff_id: int, details: MemberDetails, actor: Actor
) -> None:
    """Changes a member's staff group, and their name, email and language when they work in
    this company only (otherwise those are theirs to change). A change of group takes effect
    at their next request."""
    actor.require(STAFF_MANAGE)
    member = await get_member(company_id, staff_id)
    await _require_within(company_id, member, actor)
    own_details = member.other_companies == 0
    errors: dict[str, str] = {}
    email = member.email
    if own_details:
        email = _checked_email(details.email, errors)
        _check_names(details, errors)
    await _check_group(company_id, details.group_id, errors)
    if errors:
        raise ValidationError(errors)
    new_group = await groups.get_group(company_id, details.group_id)
    groups.require_within(actor, new_group.permissions, "group_id", groups.GIVING_MORE)
    changes = []
    async for transaction in write_transactions():
        async with transaction:
            if member.group_id != new_group.id:
                if not new_group.is_administrators:
                    await _refuse_leaving_no_administrator(company_id, member)
                await StaffCompany.update({StaffCompany.staff_group: new_group.id}).where(
                    _membership(staff_id, company_id)
                )
                await activity.record(
                    company_id,
                    actor,
                    "permissions",
                    f"Moved {member.name} from {member.group_name} to {new_group.name}.",
                )
            if own_details:
                if email != member.email:
                    await _refuse_taken_email(email, staff_id)
                values = _details_values(details, email)
                labels = (
                    ("First Name", member.first_name, details.first_name),
                    ("Last Name", member.last_name, details.last_name),
                    ("Email", member.email, email),
                    ("Language", member.language, details.language),
                )
                changes = [f"{label}: {old} → {new}" for label, old, new in labels if old != new]
                if changes:
                    # A new email is a new login: sessions under the old one end.
                    if email != member.email:
                        values["session_epoch"] = Staff.session_epoch + 1
                    await Staff.update(values).where(Staff.id == staff_id)
                    await activity.record(
                        company_id,
                        actor,
                        "staff",
                        f"Changed the details of {member.name}: {'; '.join(changes)}.",
                    )


async def set_member_active(company_id: int, staff_id: int, active: bool, actor: Actor) -> bool:
    """Disables a member in this company (their next request here is refused: a session in
    this company ends at once) or enables them again. False when nothing changed."""
    actor.require(STAFF_MANAGE)
    member = await get_member(company_id, staff_id)
    await _require_within(company_id, member, actor)
    if member.active == active:
        return False
    if not active:
        _refuse_self(member, actor, "disable")
    async for transaction in write_transactions():
        async with transaction:
            if not active:
                await _refuse_leaving_no_administrator(company_id, member)
            await StaffCompany.update({StaffCompany.active: active}).where(
                _membership(staff_id, company_id)
            )
            await activity.record(
                company_id,
                actor,
                "staff",
                f"{'Enabled' if active else 'Disabled'} the staff member {member.name}.",
            )
    return True


async def remove_member(company_id: int, staff_id: int, actor: Actor) -> None:
    """Takes a member out of the company; an account that works nowhere else is deleted with
    its links and widget arrangements. Their lines in the activity log keep their name."""
    actor.require(STAFF_MANAGE)
    member = await get_member(company_id, staff_id)
    _refuse_self(member, actor, "delete")
    await _require_within(company_id, member, actor)
    async for transaction in write_transactions():
        async with transaction:
            await _refuse_leaving_no_administrator(company_id, member)
            await StaffCompany.delete().where(_membership(staff_id, company_id))
            if not await StaffCompany.exists().where(StaffCompany.staff == staff_id):
                await Staff.delete().where(Staff.id == staff_id)
            await activity.record(
                company_id,
                actor,
                "staff",
                f"Deleted the staff member {member.name} ({member.email}).",
            )


# --- one-time links: invitations and password resets -----------------------------------------


async def _valid_link(token: str, purpose: str) -> dict | None:
    return (
        await StaffToken.select(StaffToken.staff, StaffToken.staff.email)
        .where(
            StaffToken.token_hash == token_hash(token),
            StaffToken.purpose == purpose,
            StaffToken.used_at.is_null(),
            StaffToken.expires_at > datetime.now(UTC),
        )
        .first()
    )


async def link_holder(token: str, purpose: str) -> StaffUser | None:
    """Whose invitation or reset link this is, while it is valid."""
    row = await _valid_link(token, purpose)
    if row is None:
        return None
    staff = await Staff.select().where(Staff.id == row["staff"]).first()
    return from_row(StaffUser, staff) if staff else None


async def open_link(token: str, purpose: str, address: str) -> StaffUser | None:
    """Whose invitation or reset link this is, while it is valid; None for a used, expired or
    unknown link, which counts against the address. Past throttle.LINK_LIMITS such links from
    the address, Throttled, whatever the link. Every page of a link (GET and POST) asks here."""
    return await throttle.counted_link(
        LINK_THROTTLE_AREA, token, address, lambda value: link_holder(value, purpose)
    )


async def set_password_by_link(token: str, purpose: str, password: str) -> StaffUser:
    """Sets the password through an invitation or reset link: the link works once, before it
    expires; every other link of the account stops working, other sessions end. Raises
    NotFound for a link that is not (or no longer) valid. Routes check the link with
    `open_link` first, so that the lookup is counted."""
    holder = await link_holder(token, purpose)
    if holder is None:
        raise NotFound()
    own_words = (holder.email, holder.first_name, holder.last_name)
    if problem := password_problem(password, user_inputs=own_words):
        raise ValidationError({"password": problem})
    password_hash = await hash_password(password)
    async for transaction in write_transactions():
        async with transaction:
            used = (
                await StaffToken.update({StaffToken.used_at: datetime.now(UTC)})
                .where(
                    StaffToken.token_hash == token_hash(token),
                    StaffToken.purpose == purpose,
                    StaffToken.used_at.is_null(),
                    StaffToken.expires_at > datetime.now(UTC),
                )
                .returning(StaffToken.staff)
            )
            if not used:
                raise NotFound()
            await _end_links(holder.id)
            await Staff.update(
                {
                    Staff.password_hash: password_hash,
                    Staff.session_epoch: Staff.session_epoch + 1,
                }
            ).where(Staff.id == holder.id)
            actor = Actor(kind="staff", id=holder.id, name=holder.name)
            summary = (
                "Accepted the invitation and chose a password."
                if purpose == INVITE
                else "Reset the password through an emailed link."
            )
            await activity.record_many(
                await _member_company_ids(holder.id), actor, "staff", summary
            )
            await logins.end_all("staff", [holder.id])
    staff = await session_staff(holder.id, holder.session_epoch + 1)
    assert staff is not None
    return staff


async def check_reset_request(email: str, address: str) -> None:
    """Counts a forgotten-password request; too many raise Throttled. It is all the work done
    before the answer, which is the same whether or not the account exists."""
    identifier = email.strip().lower()[:254]
    row = await Staff.select(Staff.id).where(Staff.email == identifier).first()
    account = f"staff:{row['id']}" if row else f"typed:{identifier}"
    if not await throttle.hit(RESET_THROTTLE_AREA, account, address, RESET_LIMITS):
        raise Throttled()


async def send_password_reset(email: str) -> None:
    """Mails a reset link, valid for an hour, to an active staff account with this email that
    works in at least one company (run after the answer has gone)."""
    identifier = email.strip().lower()[:254]
    row = await Staff.select().where(Staff.email == identifier).first()
    if row is None or row["status"] != "active" or not row["password_hash"]:
        return
    companies = await companies_of_staff(row["id"])
    if not companies:
        return
    token, stored_hash = new_token()
    async for transaction in write_transactions():
        async with transaction:
            await _new_link(row["id"], RESET, stored_hash)
    await _mail_staff(
        row["id"],
        companies[0].id,
        "staff_password_reset.txt",
        "staff_password_reset",
        link=f"{get_settings().base_url}/admin/reset/{token}",
    )


async def _mail_staff(staff_id: int, company_id: int, template: str, kind: str, **context) -> None:
    staff = await Staff.select().where(Staff.id == staff_id).first()
    company = await get_company(company_id)
    subject, body = mail.render(
        template,
        staff["language"],
        company=company["name"],
        first_name=staff["first_name"],
        login_url=f"{get_settings().base_url}/admin/login",
        **context,
    )
    await mail.send(
        company["id"],
        company["name"],
        mail.Mail(to=staff["email"], subject=subject, body_text=body, kind=kind),
    )


# --- one's own profile ------------------------------------------------------------------------


async def confirm_password(
    staff: StaffUser, password: str, address: str, field: str = "password"
) -> None:
    """The staff member's own password, for a sensitive change; throttled like a login."""
    row = await Staff.select(Staff.password_hash).where(Staff.id == staff.id).first()
    attempt = await throttle.begin(CONFIRM_THROTTLE_AREA, f"staff:{staff.id}", address)
    if attempt is None:
        raise Throttled()
    ok, _ = await verify_password(row["password_hash"] if row else None, password)
    if not ok:
        await throttle.failed(attempt)
        raise ValidationError({field: "The current password is not correct."})
    await throttle.succeeded(attempt)


async def update_profile(
    staff: StaffUser, details: ProfileDetails, current_password: str, address: str
) -> int:
    """A staff member's own name, email and language. A new email (their login) needs the
    current password, and the old address is told. Returns the session epoch their own
    session takes on (a new email ends their other sessions)."""
    errors: dict[str, str] = {}
    email = _checked_email(details.email, errors)
    _check_names(details, errors)
    if errors:
        raise ValidationError(errors)
    email_changed = email != staff.email
    if email_changed:
        await confirm_password(staff, current_password, address, "current_password")
    values = _details_values(details, email)
    if email_changed:
        values["session_epoch"] = Staff.session_epoch + 1
    async for transaction in write_transactions():
        async with transaction:
            if email_changed:
                await _refuse_taken_email(email, staff.id)
            rows = (
                await Staff.update(values)
                .where(Staff.id == staff.id)
                .returning(Staff.session_epoch)
            )
            if email_changed:
                await activity.record_many(
                    await _member_company_ids(staff.id),
                    Actor(kind="staff", id=staff.id, address=address, name=staff.name),
                    "staff",
                    f"Changed their own login email from {staff.email} to {email}.",
                )
    if email_changed:
        companies = await companies_of_staff(staff.id)
        if companies:
            subject, body = mail.render(
                "staff_email_changed.txt",
                details.language,
                company=companies[0].name,
                first_name=details.first_name,
                new_email=email,
            )
            await mail.send(
                companies[0].id,
                companies[0].name,
                mail.Mail(to=staff.email, subject=subject, body_text=body, kind="email_changed"),
            )
    return rows[0]["session_epoch"]


async def change_password(
    staff: StaffUser, current_password: str, new_password: str, address: str
) -> int:
    """Changes one's own password after checking the current one; other sessions end. Returns
    the new session epoch, which the caller's own session takes on."""
    errors: dict[str, str] = {}
    try:
        await confirm_password(staff, current_password, address, "current_password")
    except ValidationError as error:
        errors.update(error.errors)
    own_words = (staff.email, staff.first_name, staff.last_name)
    if problem := password_problem(new_password, user_inputs=own_words):
        errors["new_password"] = problem
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(new_password)
    async for transaction in write_transactions():
        async with transaction:
            rows = (
                await Staff.update(
                    {
                        Staff.password_hash: password_hash,
                        Staff.session_epoch: Staff.session_epoch + 1,
                    }
                )
                .where(Staff.id == staff.id)
                .returning(Staff.session_epoch)
            )
            await _end_links(staff.id)
            await activity.record_many(
                await _member_company_ids(staff.id),
                Actor(kind="staff", id=staff.id, address=address, name=staff.name),
                "staff",
                "Changed their own password.",
            )
    return rows[0]["session_epoch"]


# --- sign-in security -------------------------------------------------------------------------

STAFF_TWO_FACTOR_KEY = "staff_two_factor"


async def staff_two_factor_required(company_id: int) -> bool:
    """Whether the company requires two-factor sign-in of its staff."""
    return await CompanySetting.get(company_id, STAFF_TWO_FACTOR_KEY) == "true"


async def must_enrol_two_factor(staff_id: int) -> bool:
    """Whether a company the staff member works in requires two-factor and it is not on yet:
    they turn it on before anything else at this sign-in."""
    if await two_factor.is_enabled(Login("staff", staff_id)):
        return False
    return await CompanySetting.exists().where(
        CompanySetting.key == STAFF_TWO_FACTOR_KEY,
        CompanySetting.value == "true",
        CompanySetting.company.is_in(await _member_company_ids(staff_id) or [0]),
    )


async def set_staff_two_factor_required(company_id: int, required: bool, actor: Actor) -> None:
    actor.require(STAFF_MANAGE)
    async for transaction in write_transactions():
        async with transaction:
            await CompanySetting.put(
                company_id, STAFF_TWO_FACTOR_KEY, "true" if required else "false"
            )
            await activity.record(
                company_id,
                actor,
                "settings",
                "Two-factor sign-in is now required of staff."
                if required
                else "Two-factor sign-in is no longer required of staff.",
            )


async def record_security_change(staff: StaffUser, address: str, change: str) -> None:
    """A change of the staff member's own sign-in security: in the logs of their companies,
    and mailed to them (a session someone else holds must not change it unnoticed)."""
    await activity.record_many(
        await _member_company_ids(staff.id),
        Actor(kind="staff", id=staff.id, address=address, name=staff.name),
        "staff",
        change,
    )
    companies = await companies_of_staff(staff.id)
    if companies:
        await _mail_staff(
            staff.id, companies[0].id, "security_notice.txt", "security_notice", change=change
        )


async def record_sign_in(staff: StaffUser, address: str, method: str) -> None:
    """A sign-in that did not need the password (a passkey) or finished with a second factor."""
    await activity.record_many(
        await _member_company_ids(staff.id),
        Actor(kind="staff", id=staff.id, address=address, name=staff.name),
        "login",
        f"Signed in with a {method}.",
    )


async def reset_two_factor(email: str) -> None:
    """Turns a staff member's two-factor off and ends their sessions (the command line's way
    back in for someone who lost both their phone and their recovery codes)."""
    row = (
        await Staff.select(Staff.id, Staff.first_name, Staff.last_name, Staff.email)
        .where(Staff.email == (normalise_email(email) or email).lower())
        .first()
    )
    if row is None:
        raise ValidationError({"email": "No staff member has this email."})
    login = Login("staff", row["id"])
    if not await two_factor.disable(login):
        raise ValidationError({"email": "This staff member does not use two-factor sign-in."})
    await logins.end_all("staff", [row["id"]])
    await activity.record_many(
        await _member_company_ids(row["id"]),
        SYSTEM,
        "staff",
        f"Two-factor sign-in of {row['email']} was reset from the command line.",
    )
