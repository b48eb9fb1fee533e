"""Staff, staff groups and permissions: every admin route says what it needs and the guard
enforces it (a forged POST gets 403), services check the actor too, invitations and password
links work once and expire, the last administrator stays, and one company's staff never act on
another's."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import STAFF_PASSWORD, csrf_from, get_csrf, login_staff, without_csrf_tokens
from portal.activity.tables import ActivityEvent
from portal.app import create_app
from portal.clients import lifecycle
from portal.clients.tables import Client
from portal.core.actors import SYSTEM, Actor
from portal.core.errors import ValidationError
from portal.core.permissions import (
    CLIENTS_DELETE,
    CLIENTS_PRIVACY,
    CLIENTS_VIEW,
    OUTBOX_READ,
    STAFF_MANAGE,
    SUPPORT_PERMISSIONS,
    Forbidden,
)
from portal.mail.tables import MailMessage
from portal.staff import groups, services
from portal.staff.access import PERMISSION
from portal.staff.tables import Staff, StaffCompany, StaffToken
from profile_helpers import make_client

SUPPORT_PASSWORD = "Quiet-river-73"  # noqa: S105 - a test credential


async def _support(company_id: int, email: str = "sam@example.com", group: str = "Support") -> int:
    """A staff member of the company's group `group` (password SUPPORT_PASSWORD)."""
    return await services.create_staff(
        email=email,
        password=SUPPORT_PASSWORD,
        first_name="Sam",
        last_name="Support",
        company_ids=[company_id],
        group=group,
    )


@contextlib.asynccontextmanager
async def _session(email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser: a staff member's own session beside the test's admin_client."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        await login_staff(http, email, password)
        yield http


def _admin_actor(staff_id: int) -> Actor:
    return Actor(kind="staff", id=staff_id, name="Ada Admin", permissions=groups.all_permissions())


def test_every_admin_route_says_which_permission_it_needs():
    """A route that forgets would be open to every staff member: none may."""
    app = create_app()
    missing = [
        route.path
        for route in app.routes
        if route.path.startswith("/admin")
        for handler in getattr(route, "route_handlers", [])
        if handler.http_methods != {"OPTIONS"}  # Litestar's own answer to OPTIONS
        and "require_staff" in {getattr(g, "__name__", "") for g in handler.resolve_guards()}
        and PERMISSION not in handler.opt
    ]
    assert missing == []


async def test_support_sees_no_delete_and_a_forged_delete_is_refused_until_granted(
    admin_client, staff, company_id
):
    client_id = await make_client(company_id)
    await _support(company_id)
    async with _session("sam@example.com", SUPPORT_PASSWORD) as support:
        profile = await support.get(f"/admin/clients/{client_id}")
        assert profile.status_code == 200
        assert "Delete Client" not in profile.text and "Edit Client" not in profile.text
        assert "Email Client" in profile.text  # Support may email clients
        token = csrf_from(profile.text)
        assert (await support.get(f"/admin/clients/{client_id}/delete")).status_code == 403
        forged = await support.post(
            f"/admin/clients/{client_id}/delete",
            data={"_csrf_token": token, "password": SUPPORT_PASSWORD},
        )
        assert forged.status_code == 403
        assert "Delete clients" in forged.text  # the permission, in words
        assert await Client.exists().where(Client.id == client_id)
        # Settings and staff are out of reach too, and not in the menu.
        assert (await support.get("/admin/settings/company/client-groups")).status_code == 403
        assert "Client Groups" not in profile.text and "System &gt; Staff" not in profile.text
        for path, data in (
            ("/admin/settings/company/client-settings", {"setting_client_id_start": "1"}),
            ("/admin/settings/company/general", {"languages": ["en"], "default_language": "en"}),
            ("/admin/settings/system/staff-groups/add", {"name": "Mine", "permissions": []}),
            ("/admin/settings/system/staff/add", {"email": "x@example.com"}),
        ):
            refused = await support.post(path, data={"_csrf_token": token, **data})
            assert refused.status_code == 403, path

        # The administrator grants the permission: the next request may delete.
        support_group = await groups.group_by_name(company_id, "Support")
        page = await admin_client.get(f"/admin/settings/system/staff-groups/{support_group}/edit")
        assert page.status_code == 200
        await admin_client.post(
            f"/admin/settings/system/staff-groups/{support_group}/edit",
            data={
                "_csrf_token": csrf_from(page.text),
                "name": "Support",
                "permissions": [*SUPPORT_PERMISSIONS, CLIENTS_DELETE],
            },
        )
        profile = await support.get(f"/admin/clients/{client_id}")
        assert "Delete Client" in profile.text
        deleted = await support.post(
            f"/admin/clients/{client_id}/delete",
            data={"_csrf_token": csrf_from(profile.text), "password": SUPPORT_PASSWORD},
        )
        assert deleted.status_code == 303
        assert not await Client.exists().where(Client.id == client_id)


async def test_services_check_the_actor_whatever_calls_them(company_id):
    client_id = await make_client(company_id)
    support = Actor(kind="staff", id=1, permissions=frozenset(SUPPORT_PERMISSIONS))
    with pytest.raises(Forbidden):
        await lifecycle.set_status(company_id, client_id, "fraud", support)
    assert (await Client.select(Client.status).where(Client.id == client_id).first())[
        "status"
    ] == "active"


async def test_invitation_sets_a_password_once(admin_client, staff, company_id):
    page = await admin_client.get("/admin/settings/system/staff/add")
    support_group = await groups.group_by_name(company_id, "Support")
    response = await admin_client.post(
        "/admin/settings/system/staff/add",
        data={
            "_csrf_token": csrf_from(page.text),
            "first_name": "Nia",
            "last_name": "New",
            "email": "Nia@Example.com",
            "language": "en",
            "group_id": str(support_group),
        },
    )
    assert response.status_code == 303
    listing = await admin_client.get("/admin/settings/system/staff")
    assert "Nia New" in listing.text and "Invited" in listing.text
    mail = await MailMessage.select().where(MailMessage.kind == "staff_invitation").first()
    assert mail["to_address"] == "nia@example.com"
    link = re.search(r"http://\S+/admin/invitation/(\S+)", mail["body_text"])
    assert link, mail["body_text"]
    path = f"/admin/invitation/{link.group(1)}"

    invitee = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://testserver.local"
    )
    async with invitee:
        form = await invitee.get(path)
        assert form.status_code == 200 and "Nia New" in form.text
        weak = await invitee.post(
            path, data={"_csrf_token": csrf_from(form.text), "password": "nia@example.com"}
        )
        assert weak.status_code == 422  # the same rules as everywhere
        done = await invitee.post(
            path, data={"_csrf_token": csrf_from(form.text), "password": "Brave-otter-58"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/admin"
        home = await invitee.get("/admin")
        assert home.status_code == 200
        again = await invitee.get(path)
        assert again.status_code == 404 and "expired or was already used" in again.text
        reuse = await invitee.post(
            path, data={"_csrf_token": csrf_from(home.text), "password": "Other-otter-58"}
        )
        assert reuse.status_code == 404
    listing = await admin_client.get("/admin/settings/system/staff")
    assert "Invited" not in listing.text


async def test_expired_invitations_and_resets_are_refused(company_id, staff, client):
    member = await services.invite_member(
        company_id,
        services.MemberDetails(
            "Old",
            "Link",
            "old@example.com",
            "en",
            await groups.group_by_name(company_id, "Support"),
        ),
        _admin_actor(staff["id"]),
    )
    mail = await MailMessage.select().where(MailMessage.kind == "staff_invitation").first()
    token = re.search(r"/admin/invitation/(\S+)", mail["body_text"]).group(1)
    await StaffToken.update(
        {StaffToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(StaffToken.staff == member)
    assert (await client.get(f"/admin/invitation/{token}")).status_code == 404
    with pytest.raises(Exception):  # noqa: B017, PT011 - NotFound, the same for every bad link
        await services.set_password_by_link(token, services.INVITE, "Brave-otter-58")
    assert (await Staff.select(Staff.password_hash).where(Staff.id == member).first())[
        "password_hash"
    ] == ""


async def test_forgotten_password_tells_nothing_and_resets_once(client, staff, company_id):
    token = await get_csrf(client, "/admin/forgot-password")
    for typed in ("", "not an email"):
        refused = await client.post(
            "/admin/forgot-password", data={"_csrf_token": token, "email": typed}
        )
        assert refused.status_code == 422 and "Enter the email you sign in with." in refused.text
    known = await client.post(
        "/admin/forgot-password", data={"_csrf_token": token, "email": staff["email"]}
    )
    unknown = await client.post(
        "/admin/forgot-password", data={"_csrf_token": token, "email": "nobody@example.com"}
    )
    assert known.status_code == unknown.status_code == 200
    assert without_csrf_tokens(known.text) == without_csrf_tokens(unknown.text)
    mails = await MailMessage.select().where(MailMessage.kind == "staff_password_reset")
    assert [m["to_address"] for m in mails] == [staff["email"]]
    link = re.search(r"/admin/reset/(\S+)", mails[0]["body_text"]).group(1)
    page = await client.get(f"/admin/reset/{link}")
    done = await client.post(
        f"/admin/reset/{link}",
        data={"_csrf_token": csrf_from(page.text), "password": "Fresh-meadow-19"},
    )
    assert done.status_code == 303
    assert (await client.get(f"/admin/reset/{link}")).status_code == 404
    # The old password no longer works, the new one does.
    fresh = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://testserver.local"
    )
    async with fresh:
        await login_staff(fresh, staff["email"], "Fresh-meadow-19")

    # Asking again and again is throttled, with the same answer for a known and unknown address.
    statuses = []
    for _ in range(4):
        token = await get_csrf(client, "/admin/forgot-password")
        answer = await client.post(
            "/admin/forgot-password", data={"_csrf_token": token, "email": staff["email"]}
        )
        statuses.append(answer.status_code)
    assert 429 in statuses


async def test_the_last_active_administrator_stays(admin_client, staff, company_id):
    actor = _admin_actor(staff["id"])
    support_group = await groups.group_by_name(company_id, "Support")
    other = await services.create_staff(
        email="bo@example.com",
        password=SUPPORT_PASSWORD,
        first_name="Bo",
        last_name="Other",
        company_ids=[company_id],
    )
    other_actor = _admin_actor(other)
    # Two administrators: one may be disabled; then the other is the last one.
    assert await services.set_member_active(company_id, other, False, actor)
    with pytest.raises(ValidationError, match="last active administrator"):
        await services.update_member(
            company_id,
            staff["id"],
            services.MemberDetails("Ada", "Admin", staff["email"], "en", support_group),
            other_actor,
        )
    with pytest.raises(ValidationError, match="last active administrator"):
        await services.remove_member(company_id, staff["id"], other_actor)
    with pytest.raises(ValidationError, match="your own account"):
        await services.set_member_active(company_id, staff["id"], False, actor)
    # Through the admin area: the refusal is a message, nothing changes.
    page = await admin_client.get("/admin/settings/system/staff")
    response = await admin_client.post(
        f"/admin/settings/system/staff/{staff['id']}/disable",
        data={"_csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303
    assert (await admin_client.get("/admin")).status_code == 200
    membership = await StaffCompany.select().where(StaffCompany.staff == staff["id"]).first()
    assert membership["active"] is True or membership["active"] == 1


async def test_a_disabled_member_is_out_at_once(admin_client, staff, company_id):
    member = await _support(company_id)
    async with _session("sam@example.com", SUPPORT_PASSWORD) as support:
        assert (await support.get("/admin")).status_code == 200
        await services.set_member_active(company_id, member, False, _admin_actor(staff["id"]))
        after = await support.get("/admin")
        assert after.status_code == 302 and after.headers["location"].startswith("/admin/login")
        token = await get_csrf(support, "/admin/login")
        refused = await support.post(
            "/admin/login",
            data={"_csrf_token": token, "email": "sam@example.com", "password": SUPPORT_PASSWORD},
        )
        assert refused.status_code == 403  # no company to work in
    lines = await ActivityEvent.select().where(ActivityEvent.kind == "staff")
    assert any("Disabled the staff member Sam Support" in line["summary"] for line in lines)


async def test_one_company_never_manages_anothers_staff(admin_client, staff, second_company):
    foreign = await services.create_staff(
        email="eve@example.com",
        password=SUPPORT_PASSWORD,
        first_name="Eve",
        last_name="Elsewhere",
        company_ids=[second_company],
    )
    page = await admin_client.get("/admin/settings/system/staff")
    assert "Eve" not in page.text
    for path in ("edit", "delete"):
        assert (
            await admin_client.get(f"/admin/settings/system/staff/{foreign}/{path}")
        ).status_code == 404
    forged = await admin_client.post(
        f"/admin/settings/system/staff/{foreign}/disable",
        data={"_csrf_token": csrf_from(page.text)},
    )
    assert forged.status_code == 404
    foreign_group = await groups.group_by_name(second_company, "Support")
    assert (
        await admin_client.get(f"/admin/settings/system/staff-groups/{foreign_group}/edit")
    ).status_code == 404
    # Inviting someone into one's company with another company's group is refused.
    page = await admin_client.get("/admin/settings/system/staff/add")
    response = await admin_client.post(
        "/admin/settings/system/staff/add",
        data={
            "_csrf_token": csrf_from(page.text),
            "first_name": "X",
            "last_name": "Y",
            "email": "x@example.com",
            "language": "en",
            "group_id": str(foreign_group),
        },
    )
    assert response.status_code == 422 and "Choose a staff group from the list." in response.text


async def test_a_member_of_several_companies_keeps_their_own_details(
    admin_client, staff, company_id, second_company
):
    shared = await services.create_staff(
        email="multi@example.com",
        password=SUPPORT_PASSWORD,
        first_name="Mo",
        last_name="Multi",
        company_ids=[company_id, second_company],
        group="Support",
    )
    page = await admin_client.get(f"/admin/settings/system/staff/{shared}/edit")
    assert 'name="email"' not in page.text  # not editable here
    await services.remove_member(company_id, shared, _admin_actor(staff["id"]))
    assert await Staff.exists().where(Staff.id == shared)  # still works in the other company


async def test_staff_groups_bad_input(admin_client, company_id):
    page = await admin_client.get("/admin/settings/system/staff-groups/add")
    token = csrf_from(page.text)
    for data, message in (
        ({"name": ""}, "Name is required."),
        ({"name": "x" * 500}, "Name is too long"),
        (
            {"name": "Billing", "permissions": ["root.everything"]},
            "Choose permissions from the list.",
        ),
        ({"name": "support"}, "already exists"),
    ):
        response = await admin_client.post(
            "/admin/settings/system/staff-groups/add", data={"_csrf_token": token, **data}
        )
        assert response.status_code == 422 and message in response.text, (data, response.text)
    admins = await groups.administrators_group(company_id)
    response = await admin_client.post(
        f"/admin/settings/system/staff-groups/{admins}/edit",
        data={"_csrf_token": token, "name": "Admins", "permissions": []},
    )
    assert response.status_code == 422 and "always holds every permission" in response.text
    # A group with members cannot be deleted; an empty one can.
    support = await groups.group_by_name(company_id, "Support")
    await _support(company_id)
    await admin_client.post(
        f"/admin/settings/system/staff-groups/{support}/delete", data={"_csrf_token": token}
    )
    assert await groups.get_group(company_id, support)


async def test_own_profile_email_needs_the_password_and_tells_the_old_address(admin_client, staff):
    page = await admin_client.get("/admin/profile")
    data = {
        "_csrf_token": csrf_from(page.text),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "language": "en",
    }
    refused = await admin_client.post("/admin/profile", data={**data, "current_password": "nope"})
    assert refused.status_code == 422 and "current password is not correct" in refused.text
    assert 'value="ada@example.com"' in refused.text  # what was typed is kept
    saved = await admin_client.post(
        "/admin/profile", data={**data, "current_password": STAFF_PASSWORD}
    )
    assert saved.status_code == 303
    assert (await admin_client.get("/admin/profile")).status_code == 200  # this session stays
    notice = await MailMessage.select().where(MailMessage.kind == "email_changed").first()
    assert notice["to_address"] == staff["email"]


async def test_cli_puts_a_new_member_in_the_named_group(company_id):
    member = await services.create_staff(
        email="cli@example.com",
        password=SUPPORT_PASSWORD,
        company_ids=[company_id],
        group="support",
    )
    membership = await groups.membership(member, company_id)
    assert membership.group_name == "Support"
    with pytest.raises(ValidationError, match="no staff group named"):
        await services.create_staff(
            email="x@example.com", password=SUPPORT_PASSWORD, group="Nonexistent"
        )


async def test_staff_managers_give_and_manage_only_what_they_hold(staff, company_id):
    """ "Staff members and staff groups" alone does not make an administrator: its holder
    gives, changes and takes away only permissions their own group holds."""
    await groups.create_group(company_id, "Staff office", [STAFF_MANAGE], SYSTEM)
    manager_id = await _support(company_id, "pat@example.com", "Staff office")
    manager = Actor(kind="staff", id=manager_id, permissions=frozenset({STAFF_MANAGE}))
    office = await groups.group_by_name(company_id, "Staff office")
    administrators = await groups.administrators_group(company_id)
    member = await services.get_member(company_id, manager_id)

    def details(group_id: int) -> services.MemberDetails:
        return services.MemberDetails(
            email=member.email, first_name="Pat", last_name="Personnel", group_id=group_id
        )

    with pytest.raises(ValidationError, match="does not hold: "):  # into Administrators
        await services.update_member(company_id, manager_id, details(administrators), manager)
    with pytest.raises(ValidationError, match="does not hold: "):  # more for their own group
        await groups.update_group(
            company_id, office, "Staff office", [STAFF_MANAGE, CLIENTS_VIEW], manager
        )
    with pytest.raises(ValidationError, match="does not hold: "):  # a new administrator
        await services.invite_member(
            company_id,
            services.MemberDetails(
                email="new@example.com", first_name="N", last_name="Ew", group_id=administrators
            ),
            manager,
        )
    with pytest.raises(ValidationError, match="holds permissions you do not"):
        await services.set_member_active(company_id, staff["id"], False, manager)
    with pytest.raises(ValidationError, match="holds permissions you do not"):
        await services.remove_member(company_id, staff["id"], manager)
    invited = await services.invite_member(
        company_id,
        services.MemberDetails(
            email="ad@example.com", first_name="A", last_name="Dmin", group_id=administrators
        ),
        SYSTEM,
    )
    with pytest.raises(ValidationError, match="holds permissions you do not"):
        await services.resend_invitation(company_id, invited, manager)
    assert (await groups.membership(manager_id, company_id)).permissions == {STAFF_MANAGE}
    assert (await services.get_member(company_id, staff["id"])).active
    # Within what they hold, they manage: a group of it, a member put in it.
    await groups.update_group(company_id, office, "Personnel", [STAFF_MANAGE], manager)


async def test_pages_offer_only_what_the_staff_member_may_do(company_id):
    """Browse without Add Client, Delete Client without the status buttons, Anonymise without
    the way to Delete Client, when the group does not hold them (each led to a 403)."""
    client_id = await make_client(company_id)
    await groups.create_group(
        company_id, "Erasers", [CLIENTS_VIEW, CLIENTS_DELETE, CLIENTS_PRIVACY], SYSTEM
    )
    await _support(company_id, "eve@example.com", "Erasers")
    async with _session("eve@example.com", SUPPORT_PASSWORD) as eve:
        browse = await eve.get("/admin/clients")
        assert browse.status_code == 200 and 'href="/admin/clients/add"' not in browse.text
        delete = await eve.get(f"/admin/clients/{client_id}/delete")
        assert delete.status_code == 200 and "/status" not in delete.text
        await groups.update_group(
            company_id,
            await groups.group_by_name(company_id, "Erasers"),
            "Erasers",
            [CLIENTS_VIEW, CLIENTS_PRIVACY],
            SYSTEM,
        )
        anonymise = await eve.get(f"/admin/clients/{client_id}/anonymise")
        assert anonymise.status_code == 200 and "/delete" not in anonymise.text


async def test_an_outbox_reader_does_not_read_an_administrators_link(
    admin_client, staff, company_id
):
    """Without SMTP the outbox holds every message; a staff member's reset link in it shows
    only to readers who hold every permission (through it, one works as that staff member)."""
    await services.send_password_reset(staff["email"])
    message = await MailMessage.select().where(MailMessage.kind == "staff_password_reset").first()
    assert message["status"] == "outbox"
    path = f"/admin/tools/outbox/{message['id']}"
    assert "/admin/reset/" in (await admin_client.get(path)).text
    await groups.create_group(company_id, "Mail room", [OUTBOX_READ], SYSTEM)
    await _support(company_id, "mo@example.com", "Mail room")
    async with _session("mo@example.com", SUPPORT_PASSWORD) as mo:
        shown = await mo.get(path)
        assert shown.status_code == 200 and "/admin/reset/" not in shown.text
