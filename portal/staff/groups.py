"""Staff groups and their permissions, per company, and what a staff member may do in a company.

Every company has the built-in group "Administrators", which holds every permission there is
(plugins' included; none is stored, and it cannot be changed or deleted), and starts with
"Support", a read-mostly set it may change. Every membership of a company is in one of its groups.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from piccolo.columns.combination import Combinable, WhereRaw

from portal.activity import services as activity
from portal.core.actors import Actor
from portal.core.db import lock_name, locked, read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.ids import is_row_id
from portal.core.permissions import (
    STAFF_MANAGE,
    SUPPORT_PERMISSIONS,
    all_permissions,
    catalog,
)
from portal.core.unique import taken_as_invalid
from portal.staff.tables import StaffCompany, StaffGroup, StaffGroupPermission

ADMINISTRATORS = "administrators"
SUPPORT = "support"
GROUP_NAME = Field("name", "Name", 100, required=True)


@dataclass(frozen=True)
class StaffGroupView:
    id: int
    name: str
    builtin: str
    permissions: frozenset[str]
    members: int

    @property
    def is_administrators(self) -> bool:
        return self.builtin == ADMINISTRATORS


async def create_builtin_groups(company_id: int) -> int:
    """A new company's Administrators and Support groups; the id of Administrators. Call
    inside the transaction that creates the company."""
    rows = await StaffGroup.insert(
        StaffGroup(company=company_id, name="Administrators", builtin=ADMINISTRATORS),
        StaffGroup(company=company_id, name="Support", builtin=SUPPORT),
    ).returning(StaffGroup.id, StaffGroup.builtin)
    ids = {row["builtin"]: row["id"] for row in rows}
    await StaffGroupPermission.insert(
        *(StaffGroupPermission(group=ids[SUPPORT], permission=p) for p in SUPPORT_PERMISSIONS)
    )
    return ids[ADMINISTRATORS]


async def group_permissions(group_id: int, builtin: str) -> frozenset[str]:
    if builtin == ADMINISTRATORS:
        return all_permissions()
    rows = await StaffGroupPermission.select(StaffGroupPermission.permission).where(
        StaffGroupPermission.group == group_id
    )
    # Permissions of a plugin no longer installed grant nothing.
    return frozenset(row["permission"] for row in rows) & all_permissions()


@dataclass(frozen=True)
class Membership:
    company_id: int
    group_id: int
    group_name: str
    permissions: frozenset[str]


async def membership(staff_id: int, company_id: int) -> Membership | None:
    """The staff member's active membership of the company, with its permissions; None when
    they may not work there."""
    rows = await StaffCompany.raw(
        "SELECT g.id AS group_id, g.name AS group_name, g.builtin, p.permission "
        "FROM staff_company m JOIN staff_group g ON g.id = m.staff_group "
        'LEFT JOIN staff_group_permission p ON p."group" = g.id '
        "WHERE m.staff = {} AND m.company = {} AND m.active = {}",
        staff_id,
        company_id,
        True,
    )
    if not rows:
        return None
    return membership_of(company_id, rows[0], {row["permission"] for row in rows} - {None})


def membership_of(company_id: int, group: dict, permissions: set[str]) -> Membership:
    """A membership of a row with its group (`group_id`, `group_name`, `builtin`) and the
    group's permission rows."""
    return Membership(
        company_id=company_id,
        group_id=group["group_id"],
        group_name=group["group_name"],
        # Permissions of a plugin no longer installed grant nothing.
        permissions=all_permissions()
        if group["builtin"] == ADMINISTRATORS
        else frozenset(permissions) & all_permissions(),
    )


async def list_groups(company_id: int) -> list[StaffGroupView]:
    async with read_transaction():
        groups = (
            await StaffGroup.select()
            .where(StaffGroup.company == company_id)
            .order_by(StaffGroup.builtin, ascending=False)
            .order_by(StaffGroup.name)
        )
        members = await StaffCompany.raw(
            "SELECT staff_group, COUNT(*) AS members FROM staff_company "
            "WHERE company = {} GROUP BY staff_group",
            company_id,
        )
        counts = {row["staff_group"]: row["members"] for row in members}
        return [
            StaffGroupView(
                id=group["id"],
                name=group["name"],
                builtin=group["builtin"],
                permissions=await group_permissions(group["id"], group["builtin"]),
                members=counts.get(group["id"], 0),
            )
            for group in groups
        ]


async def get_group(company_id: int, group_id: int) -> StaffGroupView:
    for group in await list_groups(company_id) if is_row_id(group_id) else []:
        if group.id == group_id:
            return group
    raise NotFound()


def _check(name: str, permissions: list[str]) -> tuple[str, frozenset[str]]:
    errors: dict[str, str] = {}
    name = name.strip()
    GROUP_NAME.check(errors, name)
    chosen = frozenset(permissions)
    if chosen - all_permissions():
        errors["permissions"] = "Choose permissions from the list."
    if errors:
        raise ValidationError(errors)
    return name, chosen


def _name_taken() -> AbstractContextManager[None]:
    return taken_as_invalid(
        "staff_group_company_name", {"name": "A staff group with this name already exists."}
    )


async def _set_permissions(group_id: int, permissions: frozenset[str]) -> None:
    await StaffGroupPermission.delete().where(StaffGroupPermission.group == group_id)
    if permissions:
        await StaffGroupPermission.insert(
            *(StaffGroupPermission(group=group_id, permission=p) for p in sorted(permissions))
        )


async def create_group(company_id: int, name: str, permissions: list[str], actor: Actor) -> int:
    actor.require(STAFF_MANAGE)
    name, chosen = _check(name, permissions)
    require_within(actor, chosen, "permissions", GIVING_MORE)
    with _name_taken():
        async for transaction in write_transactions():
            async with transaction:
                rows = await StaffGroup.insert(StaffGroup(company=company_id, name=name)).returning(
                    StaffGroup.id
                )
                group_id = rows[0]["id"]
                await _set_permissions(group_id, chosen)
                await activity.record(
                    company_id,
                    actor,
                    "permissions",
                    f"Created the staff group {name} with {_summary(chosen)}.",
                )
    return group_id


def require_within(actor: Actor, permissions: frozenset[str], field: str, refusal: str) -> None:
    """Staff give, change and take away only permissions their own group holds (as a key never
    does more than its maker): else ValidationError on `field`, `refusal` followed by the
    permissions they lack. Holding "Staff members and staff groups" alone must not make
    someone an administrator. Actors no permission applies to (the command line) may all."""
    if actor.permissions is not None and (lacking := permissions - actor.permissions):
        raise ValidationError({field: f"{refusal}: {_summary(frozenset(lacking))}."})


GIVING_MORE = "You cannot give permissions your own staff group does not hold"
GROUP_HOLDS_MORE = "This group holds permissions your own staff group does not"


def _summary(permissions: frozenset[str]) -> str:
    if not permissions:
        return "no permissions"
    return "; ".join(p.label for p in catalog() if p.key in permissions)


async def update_group(
    company_id: int, group_id: int, name: str, permissions: list[str], actor: Actor
) -> None:
    """Renames a group and sets its permissions; the members' pages follow at their next
    request. Administrators cannot be changed: it always holds everything."""
    actor.require(STAFF_MANAGE)
    group = await get_group(company_id, group_id)
    if group.is_administrators:
        raise ValidationError({"": "The Administrators group always holds every permission."})
    require_within(actor, group.permissions, "", GROUP_HOLDS_MORE)
    name, chosen = _check(name, permissions)
    require_within(actor, chosen, "permissions", GIVING_MORE)
    with _name_taken():
        async for transaction in write_transactions():
            async with transaction:
                await StaffGroup.update({StaffGroup.name: name}).where(
                    StaffGroup.id == group_id, StaffGroup.company == company_id
                )
                await _set_permissions(group_id, chosen)
                added, removed = chosen - group.permissions, group.permissions - chosen
                changes = [f"renamed from {group.name}"] if name != group.name else []
                if added:
                    changes.append(f"granted {_summary(added)}")
                if removed:
                    changes.append(f"withdrew {_summary(removed)}")
                if changes:
                    await activity.record(
                        company_id,
                        actor,
                        "permissions",
                        f"Staff group {name}: {', '.join(changes)}.",
                    )


async def delete_group(company_id: int, group_id: int, actor: Actor) -> None:
    """Deletes a group nobody is in; the built-in Administrators cannot be deleted."""
    actor.require(STAFF_MANAGE)
    group = await get_group(company_id, group_id)
    if group.is_administrators:
        raise ValidationError({"": "The Administrators group cannot be deleted."})
    require_within(actor, group.permissions, "", GROUP_HOLDS_MORE)
    async for transaction in write_transactions():
        async with transaction:
            # Held first: a staff member put in the group meanwhile waits, and then finds the
            # group gone, rather than keeping it from being deleted after the count.
            await locked(StaffGroup.select(StaffGroup.id).where(StaffGroup.id == group_id))
            members = await StaffCompany.count().where(StaffCompany.staff_group == group_id)
            if members:
                raise ValidationError(
                    {
                        "": f"{members} staff member{'s are' if members != 1 else ' is'} in "
                        f"{group.name}. Move them to another group first."
                    }
                )
            await StaffGroup.delete().where(
                StaffGroup.id == group_id, StaffGroup.company == company_id
            )
            await activity.record(
                company_id, actor, "permissions", f"Deleted the staff group {group.name}."
            )


async def administrators_group(company_id: int) -> int:
    return await _group_id(company_id, StaffGroup.builtin == ADMINISTRATORS)


async def group_by_name(company_id: int, name: str) -> int:
    return await _group_id(company_id, WhereRaw("lower(name) = lower({})", name.strip()))


async def _group_id(company_id: int, condition: Combinable) -> int:
    """The ID of the company's staff group that meets `condition`; NotFound when none does."""
    row = (
        await StaffGroup.select(StaffGroup.id)
        .where(StaffGroup.company == company_id, condition)
        .first()
    )
    if row is None:
        raise NotFound()
    return row["id"]


async def active_administrators(company_id: int, *, besides: int | None = None) -> int:
    """How many active staff members are in the company's Administrators (other than
    `besides`). Call inside a write transaction after `lock_administrators`."""
    query = StaffCompany.count().where(
        StaffCompany.company == company_id,
        StaffCompany.active.eq(True),
        StaffCompany.staff_group.builtin == ADMINISTRATORS,
        StaffCompany.staff.status == "active",
        StaffCompany.staff.password_hash != "",
    )
    if besides is not None:
        query = query.where(StaffCompany.staff != besides)
    return await query


async def lock_administrators(company_id: int) -> None:
    """Serialises changes that could leave a company without an active administrator."""
    await lock_name(f"company-administrators:{company_id}")
