"""Staff accounts: first-run setup, creation, authentication and the session's staff member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from portal.companies.services import all_companies
from portal.core import throttle
from portal.core.db import lock_for_insert, write_transactions
from portal.core.errors import Throttled, ValidationError
from portal.core.forms import Field, normalise_email
from portal.core.passwords import hash_password, password_problem, verify_password
from portal.staff.tables import Staff, StaffCompany

THROTTLE_AREA = "staff"
LOGIN_FAILED = "Email or password is incorrect."

FIRST_NAME = Field("first_name", "First Name", 100)
LAST_NAME = Field("last_name", "Last Name", 100)


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


def _user(row: dict) -> StaffUser:
    return StaffUser(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        language=row["language"],
        session_epoch=row["session_epoch"],
    )


async def staff_exists() -> bool:
    return await Staff.exists().where(Staff.id.is_not_null())


async def create_staff(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    company_ids: list[int] | None = None,
    only_if_first: bool = False,
) -> int:
    """A staff member with access to `company_ids` (all companies when None). With
    `only_if_first`, refuses once any staff member exists (the one-time setup form)."""
    errors: dict[str, str] = {}
    normalised = normalise_email(email)
    if not email:
        errors["email"] = "Email is required."
    elif normalised is None:
        errors["email"] = "Enter a valid email address, like name@example.com."
    # Names are asked for at the first run's setup; the CLI may leave them out.
    FIRST_NAME.check(errors, first_name, required=only_if_first)
    LAST_NAME.check(errors, last_name, required=only_if_first)
    if problem := password_problem(password, user_inputs=(email, first_name, last_name)):
        errors["password"] = problem
    if errors:
        raise ValidationError(errors)
    assert normalised is not None
    normalised = normalised.lower()

    password_hash = await hash_password(password)
    if company_ids is None:
        company_ids = [company.id for company in await all_companies()]
    async for transaction in write_transactions():
        async with transaction:
            await lock_for_insert("staff")
            if only_if_first and await staff_exists():
                raise ValidationError(
                    {"": "The administrator has already been created. Log in instead."}
                )
            if await Staff.exists().where(Staff.email == normalised):
                raise ValidationError({"email": "A staff member with this email already exists."})
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
                        StaffCompany(staff=staff_id, company=company_id)
                        for company_id in company_ids
                    )
                )
    return staff_id


async def authenticate(email: str, password: str, address: str) -> StaffUser:
    """The staff member for these credentials. Unknown email, wrong password and an inactive
    account all raise the same ValidationError; too many failures raise Throttled."""
    identifier = email.strip().lower()[:254]
    row = await Staff.select().where(Staff.email == identifier).first() if identifier else None
    account = f"staff:{row['id']}" if row else f"typed:{identifier}"
    attempt = await throttle.begin(THROTTLE_AREA, account, address)
    if attempt is None:
        raise Throttled()
    ok, new_hash = await verify_password(row["password_hash"] if row else None, password)
    if not ok or row is None or row["status"] != "active":
        await throttle.failed(attempt)
        raise ValidationError({"": LOGIN_FAILED})
    await throttle.succeeded(attempt)
    values = {Staff.last_login_at: datetime.now(UTC)}
    if new_hash:
        values[Staff.password_hash] = new_hash
    await Staff.update(values).where(Staff.id == row["id"])
    return _user(row)


async def session_staff(staff_id: int, session_epoch: int) -> StaffUser | None:
    """The staff member a session names, if that session is still valid for them."""
    row = await Staff.select().where(Staff.id == staff_id).first()
    if row is None or row["status"] != "active" or row["session_epoch"] != session_epoch:
        return None
    return _user(row)


async def may_use_company(staff_id: int, company_id: int) -> bool:
    return await StaffCompany.exists().where(
        StaffCompany.staff == staff_id, StaffCompany.company == company_id
    )
