"""Sessions of a login ("Your sessions": list, end one, end the others), what ends them (a
password change, staff ending a client account's sessions), "Confirm it's you" before
sensitive actions, Login as Client and staff resetting a client user's two-factor."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from security_helpers import code, enrol, post_form
from test_account_users import latest_link

from conftest import STAFF_PASSWORD, csrf_from, login_staff
from portal.app import create_app
from portal.clients import users
from portal.clients.lifecycle import set_status
from portal.clients.tables import AccountUser, ClientAudit
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.core.permissions import CLIENTS_LOGIN_AS, CLIENTS_VIEW
from portal.core.tokens import new_token
from portal.mail.tables import MailMessage
from portal.security import web
from portal.security.tables import LoginSession, TwoFactor
from portal.staff import groups
from portal.staff.services import create_staff, set_member_active
from portal.staff.tables import Staff, StaffToken
from profile_helpers import make_client as make_company_client
from test_client_area import PASSWORD, client_login, make_client

SESSION_ROW = re.compile(r'action="(/(?:admin|client)/sessions/(\d+)/end)"')


def second_browser(user_agent: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50001))
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver.local", headers={"user-agent": user_agent}
    )


async def test_revoking_a_session_ends_it_at_its_next_request(client, staff):
    client.headers["user-agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0"
    await login_staff(client, staff["email"], staff["password"])
    async with second_browser("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1") as other:
        await login_staff(other, staff["email"], staff["password"])
        assert (await other.get("/admin")).status_code == 200
        page = await client.get("/admin/sessions")
        assert "Firefox on Windows" in page.text and "this session" in page.text
        ends = SESSION_ROW.findall(page.text)
        assert len(ends) == 1  # the other one; the current one has no End button
        ended = await client.post(ends[0][0], data={"_csrf_token": csrf_from(page.text)})
        assert ended.status_code == 303
        # The other browser is logged out at its next request; this one stays.
        assert (await other.get("/admin")).status_code == 302
        assert (await client.get("/admin")).status_code == 200
        # Another login's session cannot be ended by its id: 404.
        mine = await LoginSession.select(LoginSession.id).where(LoginSession.ended_at.is_null())
        assert len(mine) == 1


async def test_end_all_others_and_password_change_end_other_sessions(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    async with second_browser("curl/8.0") as other:
        await login_staff(other, staff["email"], staff["password"])
        await post_form(client, "/admin/sessions", "/admin/sessions/end-others")
        assert (await other.get("/admin")).status_code == 302
        await login_staff(other, staff["email"], staff["password"])
        changed = await post_form(
            client,
            "/admin/profile",
            "/admin/profile/password",
            current_password=STAFF_PASSWORD,
            new_password="Brand-new-horse-99",
        )
        assert changed.status_code == 303
        assert (await other.get("/admin")).status_code == 302
        assert (await client.get("/admin")).status_code == 200
        listed = await client.get("/admin/sessions")
        assert len(SESSION_ROW.findall(listed.text)) == 0


async def test_sessions_of_another_login_cannot_be_ended(client, staff, company_id):
    await create_staff(email="bob@example.com", password=STAFF_PASSWORD, company_ids=[company_id])
    async with second_browser("curl/8.0") as bob:
        await login_staff(bob, "bob@example.com", STAFF_PASSWORD)
        bobs = await LoginSession.select(LoginSession.id).first()
        await login_staff(client, staff["email"], staff["password"])
        page = await client.get("/admin/sessions")
        refused = await client.post(
            f"/admin/sessions/{bobs['id']}/end", data={"_csrf_token": csrf_from(page.text)}
        )
        assert refused.status_code == 404
        assert (await bob.get("/admin")).status_code == 200


async def test_sensitive_pages_ask_to_confirm_once_the_sign_in_is_old(client, staff, monkeypatch):
    await login_staff(client, staff["email"], staff["password"])
    assert (await client.get("/admin/settings/company/api-keys")).status_code == 200
    monkeypatch.setattr(web, "CONFIRMATION_SECONDS", -1)
    asked = await client.get("/admin/settings/company/api-keys")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/admin/confirm?next=/admin/settings/company/api-keys"
    confirm = await client.get(asked.headers["location"])
    wrong = await client.post(
        "/admin/confirm",
        data={
            "_csrf_token": csrf_from(confirm.text),
            "password": "Wrong-horse-1",
            "next": "/admin/settings/company/api-keys",
        },
    )
    assert wrong.status_code == 422 and "not correct" in wrong.text
    # A form sent after the confirmation lapsed goes to confirm too, then back to its page.
    sent = await client.post(
        "/admin/settings/company/api-keys",
        data={"_csrf_token": csrf_from(confirm.text), "name": "CRM"},
        headers={"referer": "http://testserver.local/admin/settings/company/api-keys"},
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/admin/confirm")
    monkeypatch.setattr(web, "CONFIRMATION_SECONDS", 300)
    right = await client.post(
        "/admin/confirm",
        data={
            "_csrf_token": csrf_from(confirm.text),
            "password": STAFF_PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert right.status_code == 303 and right.headers["location"] == "/admin"


async def history(client_id: int) -> list[tuple[str, str]]:
    rows = await ClientAudit.select(ClientAudit.field, ClientAudit.new_value).where(
        ClientAudit.client_id == client_id
    )
    return [(row["field"], row["new_value"]) for row in rows]


async def test_login_as_client_banner_limits_and_audit(client, staff):
    ann = await make_client(username="ann")
    await login_staff(client, staff["email"], staff["password"])
    form = await client.get(f"/admin/clients/{ann}/login-as")
    assert form.status_code == 200 and 'for="reason"' in form.text
    no_reason = await client.post(
        f"/admin/clients/{ann}/login-as", data={"_csrf_token": csrf_from(form.text), "reason": " "}
    )
    assert no_reason.status_code == 422 and "Reason" in no_reason.text
    started = await client.post(
        f"/admin/clients/{ann}/login-as",
        data={"_csrf_token": csrf_from(form.text), "reason": "Ticket 4711"},
    )
    assert started.status_code == 303 and started.headers["location"] == "/client"
    dashboard = await client.get("/client")
    assert "Logged in as Ann Client by Ada Admin." in dashboard.text
    # The admin area stays open beside it.
    assert (await client.get("/admin")).status_code == 200

    # No password, email or sign-in security changes as the client.
    password = await post_form(
        client,
        "/client/password",
        "/client/password",
        current_password="x",
        new_password="Another-horse-77",
    )
    assert password.status_code == 422 and "Staff working as a client" in password.text
    assert (await client.get("/client/security/two-factor")).status_code == 403
    # Nor another of the login's accounts, nor a membership of one more (an invitation).
    ann_user = (await users.owner_of(ann))["id"]
    bea = await make_client(email="bea@example.com", username="bea")
    async for transaction in write_transactions():
        async with transaction:
            await users.add_member(ann_user, bea, permissions=["invoices"])
    switched = await post_form(client, "/client", "/client/account", account=str(bea))
    assert switched.status_code == 403
    cy = await make_client(email="cy@example.com", username="cy")
    await users.invite(staff["company_id"], cy, "ann@example.com", ["invoices"], SYSTEM)
    link = await latest_link("ann@example.com")
    joined = await post_form(client, link, f"{link}/accept")
    assert joined.status_code == 403
    assert await users.membership(ann_user, cy) is None

    ended = await post_form(client, "/client", "/client/login-as/end")
    assert ended.status_code == 303 and ended.headers["location"] == f"/admin/clients/{ann}"
    assert (await client.get("/client")).status_code == 302
    assert (await client.get("/admin")).status_code == 200
    lines = await history(ann)
    assert ("Login as Client", "started by Ada Admin: Ticket 4711") in lines
    assert ("Login as Client", "ended by Ada Admin") in lines

    # The client sees the staff sign-in on its sessions page.
    async with second_browser("curl/8.0") as own:
        await client_login(own, "ann")
        sessions = await own.get("/client/sessions")
        assert "Ada Admin" in sessions.text and "Ticket 4711" in sessions.text


async def test_login_as_client_is_refused_for_inactive_other_company_and_without_permission(
    client, staff, company_id, second_company
):
    ann = await make_client(username="ann")
    await set_status(company_id, ann, "inactive", SYSTEM)
    await login_staff(client, staff["email"], staff["password"])
    form = await client.get(f"/admin/clients/{ann}/login-as")
    inactive = await client.post(
        f"/admin/clients/{ann}/login-as",
        data={"_csrf_token": csrf_from(form.text), "reason": "Ticket"},
    )
    assert inactive.status_code == 422 and "only active clients" in inactive.text
    assert (await client.get("/client")).status_code == 302
    assert (await client.get("/admin/clients/999999/login-as")).status_code == 404

    await groups.create_group(company_id, "Readers", [CLIENTS_VIEW], SYSTEM)
    await create_staff(
        email="reader@example.com",
        password=STAFF_PASSWORD,
        company_ids=[company_id],
        group="Readers",
    )
    async with second_browser("curl/8.0") as reader:
        await login_staff(reader, "reader@example.com", STAFF_PASSWORD)
        assert (await reader.get(f"/admin/clients/{ann}/login-as")).status_code == 403
    assert not [line for line in await history(ann) if line[0] == "Login as Client"]


async def test_staff_reset_a_client_users_two_factor_with_the_permission(client, staff):
    ann = await make_client(username="ann")
    async with second_browser("curl/8.0") as own:
        await client_login(own, "ann")
        await enrol(own, "/client")
        await login_staff(client, staff["email"], staff["password"])
        profile = await client.get(f"/admin/clients/{ann}/widgets/users")
        assert "two-factor of Ann Client" in profile.text
        reset = re.search(r'action="(/admin/clients/\d+/users/\d+/two-factor/reset)"', profile.text)
        done = await client.post(reset.group(1), data={"_csrf_token": csrf_from(profile.text)})
        assert done.status_code == 303
        assert await TwoFactor.count() == 0
        # Their sessions ended with it.
        assert (await own.get("/client")).status_code == 302
        assert ("Two-factor authentication", "reset by staff") in await history(ann)
        again = await client.post(reset.group(1), data={"_csrf_token": csrf_from(profile.text)})
        assert again.status_code == 303  # "does not use two-factor", as a message


@pytest.mark.parametrize("path", ["/admin/security", "/admin/sessions", "/admin/confirm"])
async def test_security_pages_need_a_staff_session(client, path):
    assert (await client.get(path)).status_code == 302


async def test_an_invitation_accepted_with_a_password_still_asks_for_the_second_factor(
    client, company_id
):
    """An owner who knows someone's password and invites their address must not get past
    their two-factor: the invitation is accepted only once the code was entered."""
    await make_client(username="bill", email="bill@example.com")
    async with second_browser("curl/8.0") as bill:
        await client_login(bill, "bill")
        secret, _ = await enrol(bill, "/client")
    await make_client(username="eve", email="eve@example.com")
    await client_login(client, "eve")
    await post_form(
        client, "/client/users", "/client/users/invite", email="bill@example.com", permissions=[]
    )
    link = await latest_link("bill@example.com")
    async with second_browser("curl/8.0") as attacker:
        page = await attacker.get(link)
        answer = await attacker.post(
            f"{link}/login",
            data={
                "_csrf_token": csrf_from(page.text),
                "identifier": "bill",
                "login_password": PASSWORD,
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/client/login/two-factor"
        assert (await attacker.get("/client")).status_code == 302
        bill_id = (
            await AccountUser.select(AccountUser.id).where(AccountUser.username == "bill").first()
        )["id"]
        assert len(await users.account_ids(bill_id)) == 1  # not joined yet
        second = await attacker.get("/client/login/two-factor")
        done = await attacker.post(
            "/client/login/two-factor",
            data={"_csrf_token": csrf_from(second.text), "code": code(secret, 1)},
        )
        assert done.headers["location"] == link  # back to the invitation, signed in
        accepted = await post_form(attacker, link, f"{link}/accept")
        assert accepted.status_code == 303
        assert len(await users.account_ids(bill_id)) == 2


async def test_a_password_reset_link_does_not_skip_the_staff_second_factor(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    secret, _ = await enrol(client, "/admin")
    token, stored = new_token()
    await StaffToken.insert(
        StaffToken(
            staff=staff["id"],
            purpose="reset",
            token_hash=stored,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    )
    async with second_browser("curl/8.0") as other:
        page = await other.get(f"/admin/reset/{token}")
        done = await other.post(
            f"/admin/reset/{token}",
            data={"_csrf_token": csrf_from(page.text), "password": "Brand-new-horse-99"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/admin/login/two-factor"
        assert (await other.get("/admin")).status_code == 302
    # The reset ended the sessions that were open.
    assert (await client.get("/admin")).status_code == 302


async def test_staff_end_every_session_of_a_client_account(client, staff):
    ann = await make_client(username="ann")
    async with second_browser("curl/8.0") as one, second_browser("Firefox/133.0") as two:
        await client_login(one, "ann")
        await client_login(two, "ann")
        await login_staff(client, staff["email"], staff["password"])
        widget = await client.get(f"/admin/clients/{ann}/widgets/users")
        ended = await client.post(
            f"/admin/clients/{ann}/sessions/end", data={"_csrf_token": csrf_from(widget.text)}
        )
        assert ended.status_code == 303
        assert (await one.get("/client")).status_code == 302
        assert (await two.get("/client")).status_code == 302
        assert ("Sessions", "2 ended by staff") in await history(ann)


async def test_support_staff_cannot_reset_two_factor_nor_end_sessions_nor_reach_other_companies(
    client, staff, company_id, second_company
):
    ann = await make_client(username="ann")
    async with second_browser("curl/8.0") as own:
        await client_login(own, "ann")
        await enrol(own, "/client")
    owner_id = (await AccountUser.select(AccountUser.id).first())["id"]
    await create_staff(
        email="support@example.com",
        password=STAFF_PASSWORD,
        company_ids=[company_id],
        group="Support",
    )
    async with second_browser("curl/8.0") as support:
        await login_staff(support, "support@example.com", STAFF_PASSWORD)
        page = await support.get(f"/admin/clients/{ann}")
        token = csrf_from(page.text)
        for path in (
            f"/admin/clients/{ann}/users/{owner_id}/two-factor/reset",
            f"/admin/clients/{ann}/sessions/end",
            f"/admin/clients/{ann}/login-as",
        ):
            refused = await support.post(path, data={"_csrf_token": token, "reason": "x"})
            assert refused.status_code == 403, path
    assert await TwoFactor.count() == 1

    # The administrator of the first company, at another company's client: not found.
    other = await make_company_client(second_company)
    await login_staff(client, staff["email"], staff["password"])
    page = await client.get("/admin")
    for path in (f"/admin/clients/{other}/login-as", f"/admin/clients/{other}/sessions/end"):
        answer = await client.post(path, data={"_csrf_token": csrf_from(page.text), "reason": "x"})
        assert answer.status_code == 404, path


async def start_login_as(http, client_id: int, reason: str = "Ticket 1") -> httpx.Response:
    form = await http.get(f"/admin/clients/{client_id}/login-as")
    return await http.post(
        f"/admin/clients/{client_id}/login-as",
        data={"_csrf_token": csrf_from(form.text), "reason": reason},
    )


async def test_login_as_client_ends_when_the_staff_member_may_no_longer(client, staff, company_id):
    ann = await make_client(username="ann")
    await create_staff(email="bob@example.com", password=STAFF_PASSWORD, company_ids=[company_id])
    bob = (await Staff.select(Staff.id).where(Staff.email == "bob@example.com").first())["id"]
    async with second_browser("curl/8.0") as bobs:
        await login_staff(bobs, "bob@example.com", STAFF_PASSWORD)
        assert (await start_login_as(bobs, ann)).status_code == 303
        assert (await bobs.get("/client")).status_code == 200
        # Staff working as the client do not invite users nor end the client's sessions.
        invited = await post_form(
            bobs, "/client/users", "/client/users/invite", email="mine@example.com"
        )
        assert invited.status_code == 403 and "Staff working as a client" in invited.text
        ended = await post_form(bobs, "/client/sessions", "/client/sessions/end-others")
        assert ended.status_code == 403
        # Disabled in the company: the client area closes at once too.
        await set_member_active(company_id, bob, False, SYSTEM)
        assert (await bobs.get("/client")).status_code == 302
        assert (await bobs.get("/client/sessions")).status_code == 302


async def test_login_as_client_ends_when_the_permission_is_taken_away(client, staff, company_id):
    ann = await make_client(username="ann")
    await groups.create_group(company_id, "Helpers", [CLIENTS_VIEW, CLIENTS_LOGIN_AS], SYSTEM)
    await create_staff(
        email="hal@example.com", password=STAFF_PASSWORD, company_ids=[company_id], group="Helpers"
    )
    async with second_browser("curl/8.0") as hal:
        await login_staff(hal, "hal@example.com", STAFF_PASSWORD)
        assert (await start_login_as(hal, ann)).status_code == 303
        assert (await hal.get("/client")).status_code == 200
        helpers = next(g for g in await groups.list_groups(company_id) if g.name == "Helpers")
        await groups.update_group(company_id, helpers.id, "Helpers", [CLIENTS_VIEW], SYSTEM)
        assert (await hal.get("/client")).status_code == 302
        assert (await hal.get("/admin")).status_code == 200  # their own session goes on


async def test_an_ended_client_session_cannot_accept_an_invitation(client, company_id):
    await make_client(username="bill", email="bill@example.com")
    async with second_browser("curl/8.0") as old, second_browser("Firefox/133.0") as new:
        await client_login(old, "bill")
        await client_login(new, "bill")
        await post_form(new, "/client/sessions", "/client/sessions/end-others")
        await make_client(username="eve", email="eve@example.com")
        await client_login(client, "eve")
        await post_form(client, "/client/users", "/client/users/invite", email="bill@example.com")
        link = await latest_link("bill@example.com")
        assert "You are logged in as" not in (await old.get(link)).text
        page = await old.get(link)  # its form, in the session the browser has now
        answer = await old.post(f"{link}/accept", data={"_csrf_token": csrf_from(page.text)})
        assert answer.status_code == 303 and answer.headers["location"] == link
        bill = AccountUser.username == "bill"
        bill_id = (await AccountUser.select(AccountUser.id).where(bill).first())["id"]
        assert len(await users.account_ids(bill_id)) == 1


@pytest.mark.parametrize("area", ["client", "admin"])
async def test_bad_passkey_answers_get_400_and_options_are_counted_per_address(client, staff, area):
    page = await client.get(f"/{area}/login")
    token = csrf_from(page.text)
    for credential in ("[" * 5000, "{}", '{"id": 1, "response": []}', "x" * 30_000, ""):
        answer = await client.post(
            f"/{area}/login/passkey",
            data={"credential": credential},
            headers={"x-csrftoken": token},
        )
        assert answer.status_code == 400 and answer.json()["error"], credential[:20]
    for _ in range(25):
        options = await client.post(
            f"/{area}/login/passkey/options", headers={"x-csrftoken": token}
        )
        assert options.status_code == 200
    async with second_browser("curl/8.0") as elsewhere:
        other = await elsewhere.get(f"/{area}/login")
        answer = await elsewhere.post(
            f"/{area}/login/passkey/options", headers={"x-csrftoken": csrf_from(other.text)}
        )
        assert answer.status_code == 200 and "challenge" in answer.json()


async def test_security_changes_are_mailed_to_the_login(client, staff, smtp_server):
    await login_staff(client, staff["email"], staff["password"])
    await enrol(client, "/admin")
    notices = await MailMessage.select(MailMessage.subject, MailMessage.body_text).where(
        MailMessage.kind == "security_notice", MailMessage.to_address == staff["email"]
    )
    assert len(notices) == 1 and "Two-factor sign-in was turned on." in notices[0]["body_text"]
