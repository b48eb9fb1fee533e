"""Helpers of the activity log and dashboard tests: staff members of a group, their actors,
and another browser beside the test's admin_client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from portal.app import create_app
from portal.core.actors import Actor
from portal.staff import groups
from portal.staff.services import create_staff

OTHER_PASSWORD = "Quiet-river-73"  # noqa: S105 - a test credential


def staff_actor(staff_id: int, name: str) -> Actor:
    """A staff member of every permission acting in the services, as the admin area makes it."""
    return Actor(
        kind="staff",
        id=staff_id,
        address="127.0.0.1",
        name=name,
        permissions=groups.all_permissions(),
    )


async def staff_in_group(company_id: int, email: str, group: str) -> int:
    """A staff member named after their email ("sam@…" is Sam Tester), with OTHER_PASSWORD."""
    return await create_staff(
        email=email,
        password=OTHER_PASSWORD,
        first_name=email.split("@")[0].capitalize(),
        last_name="Tester",
        company_ids=[company_id],
        group=group,
    )


@contextlib.asynccontextmanager
async def another_browser(address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """Another browser beside the test's admin_client, not logged in, from `address`."""
    transport = httpx.ASGITransport(app=create_app(), client=(address, 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http
