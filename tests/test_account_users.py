"""Users of a client account over HTTP: the owner's Users page, invitation links (new login,
existing login, logged-in accept; used, expired and revoked links), permissions, removal,
ownership, and the admin profile's Users widget."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from test_staff_permissions import SUPPORT_PASSWORD, _support

from conftest import csrf_from, login_staff
from portal.app import create_app
from portal.clients import users
from portal.clients.tables import AccountInvitation, AccountMember, AccountUser
from portal.mail.tables import MailMessage
from test_client_area import PASSWORD, client_login, make_client, own_details_form

BILL_PASSWORD = "Billing-otter-91"
INVALID = "This invitation link is no longer valid (used, revoked or expired)."
LINK = re.compile(r"/client/invitation/([A-Za-z0-9_\-]+)")


@contextlib.asynccontextmanager
async def browser_session() -> AsyncIterator[httpx.AsyncClient]:
    """Another browser, with its own cookies."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http


async def post_form(http: httpx.AsyncClient, page_url: str, url: str, **data) -> httpx.Response:
    """Opens the page with the form, then posts it with the page's CSRF token."""
    page = await http.get(page_url)
    assert page.status_code == 200, page.text
    return await http.post(url, data={"_csrf_token": csrf_from(page.text), **data})


async def invite(http, email: str, permissions: list[str]) -> httpx.Response:
    return await post_form(
        http, "/client/users", "/client/users/invite", email=email, permissions=permissions
    )


async def latest_link(email: str) -> str:
    """The path of the invitation link last mailed to `email`."""
    message = (
        await MailMessage.select()
        .where(MailMessage.kind == "invitation", MailMessage.to_address == email)
        .order_by(MailMessage.id, ascending=False)
        .first()
    )
    assert message is not None, f"no invitation mailed to {email}"
    match = LINK.search(message["body_text"])
    assert match, message["body_text"]
    return match.group(0)


async def user_id(username: str) -> int:
    row = await AccountUser.select(AccountUser.id).where(AccountUser.username == username).first()
    assert row is not None
    return row["id"]


async def create_login(http, link: str, name="Bill Payer", username="", password=BILL_PASSWORD):
    return await post_form(
        http, link, f"{link}/create", name=name, username=username, password=password
    )


@pytest.fixture
async def owner(client, company_id) -> tuple[httpx.AsyncClient, int]:
    """Ann, owner of her account, logged in with the test's client."""
    client_id = await make_client(username="ann")
    assert (await client_login(client, "ann")).status_code == 303
    return client, client_id


async def test_owner_invites_billing_person_who_creates_a_login(owner):
    http, account = owner
    page = await http.get("/client/users")
    assert page.status_code == 200
    assert "Invite a user" in page.text and 'data-user="ann"' in page.text
    assert 'for="invite-permission-invoices"' in page.text and ">Invoices</label>" in page.text

    sent = await invite(http, "bill@example.com", ["invoices"])
    assert sent.status_code == 303 and sent.headers["location"] == "/client/users"
    listing = await http.get("/client/users")
    assert "bill@example.com" in listing.text and "Revoke" in listing.text

    mail = await MailMessage.select().where(MailMessage.kind == "invitation").first()
    assert mail["to_address"] == "bill@example.com" and mail["client"] == account
    assert mail["subject"].startswith("You are invited to the account Ann Client at ")
    assert "Ann Client has invited you to the account Ann Client" in mail["body_text"]
    assert "within 7 days" in mail["body_text"] and "{{" not in mail["body_text"]
    link = await latest_link("bill@example.com")
    assert mail["body_text"].count("http://") + mail["body_text"].count("https://") == 1

    async with browser_session() as bill:
        shown = await bill.get(link)
        assert shown.status_code == 200
        assert "Join the account Ann Client" in shown.text
        assert "Ann Client has invited you" in shown.text
        assert "I already have a login" in shown.text and "Create a login" in shown.text

        # Errors beside the fields; what was typed comes back (the password does not).
        bad = await create_login(bill, link, name="Bill Payer", username="bad name!", password="x")
        assert bad.status_code == 422
        assert 'id="username-error"' in bad.text and 'id="password-error"' in bad.text
        assert 'value="Bill Payer"' in bad.text and 'value="bad name!"' in bad.text
        assert 'value="x"' not in bad.text

        created = await create_login(bill, link)
        assert created.status_code == 303 and created.headers["location"] == "/client"
        dashboard = await bill.get("/client")
        assert dashboard.status_code == 200
        assert 'href="/client/invoices"' in dashboard.text
        assert 'href="/client/services"' not in dashboard.text
        assert 'href="/client/users"' not in dashboard.text
        assert (await bill.get("/client/users")).status_code == 403

        # The login is the invited address; the username defaults to it.
        bill_id = await user_id("bill@example.com")
        membership = await users.membership(bill_id, account)
        assert membership and not membership.owner
        assert membership.permissions == frozenset({"invoices"})

        # A non-owner's forged POSTs are refused.
        token = csrf_from(dashboard.text)
        for path, data in [
            ("/client/users/invite", {"email": "eve@example.com", "permissions": "details"}),
            (f"/client/users/{bill_id}", {"permissions": ["invoices", "details"]}),
            (f"/client/users/{bill_id}/owner", {"password": BILL_PASSWORD}),
            (f"/client/users/{await user_id('ann')}/remove", {}),
        ]:
            refused = await bill.post(path, data={"_csrf_token": token, **data})
            assert refused.status_code == 403, path
        assert (await users.membership(bill_id, account)).permissions == {"invoices"}

        # The link works once.
        again = await bill.get(link)
        assert again.status_code == 404 and INVALID in again.text
        twice = await bill.post(
            f"{link}/create",
            data={"_csrf_token": token, "name": "X Y", "password": BILL_PASSWORD},
        )
        assert twice.status_code == 404 and INVALID in twice.text

        # Bill logs in later with the address.
        await bill.post("/client/logout", data={"_csrf_token": token})
        assert (await client_login(bill, "bill@example.com", BILL_PASSWORD)).status_code == 303

    # The owner sees Bill with his permissions.
    listing = await http.get("/client/users")
    assert 'data-user="bill@example.com"' in listing.text
    assert "No invitations wait for an answer." in listing.text


async def test_unknown_expired_and_revoked_links_are_invalid(owner):
    http, account = owner
    unknown = await http.get("/client/invitation/not-a-real-token")
    assert unknown.status_code == 404 and INVALID in unknown.text

    await invite(http, "late@example.com", ["invoices"])
    late = await latest_link("late@example.com")
    await AccountInvitation.update(
        {AccountInvitation.expires_at: datetime.now(UTC) - timedelta(minutes=1)}
    ).where(AccountInvitation.email == "late@example.com")
    async with browser_session() as visitor:
        expired = await visitor.get(late)
        assert expired.status_code == 404 and INVALID in expired.text

    await invite(http, "gone@example.com", ["services"])
    gone = await latest_link("gone@example.com")
    invitation = (
        await AccountInvitation.select(AccountInvitation.id)
        .where(AccountInvitation.email == "gone@example.com")
        .first()
    )
    async with browser_session() as visitor:
        assert (await visitor.get(gone)).status_code == 200
        revoked = await post_form(
            http, "/client/users", f"/client/users/invitations/{invitation['id']}/revoke"
        )
        assert revoked.status_code == 303
        shown = await visitor.get(gone)
        assert shown.status_code == 404 and INVALID in shown.text
    assert "gone@example.com" not in (await http.get("/client/users")).text
    assert await AccountUser.count() == 1


async def test_inviting_an_address_already_in_the_account_or_invited_is_refused(owner):
    http, _ = owner
    mine = await invite(http, "ANN@example.com", ["invoices"])
    assert mine.status_code == 422
    assert 'id="email-error"' in mine.text
    assert "This address is already a user of the account." in mine.text
    assert 'value="ANN@example.com"' in mine.text
    assert re.search(r'id="invite-permission-invoices"[^>]*checked', mine.text)

    assert (await invite(http, "bill@example.com", [])).status_code == 303
    twice = await invite(http, "bill@example.com", ["invoices"])
    assert twice.status_code == 422 and "This address has already been invited." in twice.text
    bad = await invite(http, "not-an-address", [])
    assert bad.status_code == 422 and 'id="email-error"' in bad.text
    forged = await invite(http, "carl@example.com", ["admin"])
    assert forged.status_code == 422 and "Choose permissions from the list." in forged.text
    assert await MailMessage.count().where(MailMessage.kind == "invitation") == 1


async def test_same_person_joins_a_second_account_with_the_existing_login(owner, company_id):
    http, first = owner
    await invite(http, "bill@example.com", ["invoices"])
    async with browser_session() as bill:
        assert (await create_login(bill, await latest_link("bill@example.com"))).status_code == 303

    # A second account (owner Bob) invites Bill too: Bill, logged out, uses his login.
    second = await make_client(email="bob@example.com", username="bob")
    async with browser_session() as bob:
        assert (await client_login(bob, "bob")).status_code == 303
        await invite(bob, "bill@example.com", ["services", "invoices"])
        link = await latest_link("bill@example.com")
        async with browser_session() as bill:
            wrong = await post_form(
                bill, link, f"{link}/login", identifier="bill@example.com", login_password="nope"
            )
            assert wrong.status_code == 400
            assert "Username or password is incorrect." in wrong.text
            assert 'value="bill@example.com"' in wrong.text
            joined = await post_form(
                bill,
                link,
                f"{link}/login",
                identifier="bill@example.com",
                login_password=BILL_PASSWORD,
            )
            assert joined.status_code == 303 and joined.headers["location"] == "/client"
            dashboard = await bill.get("/client")
            assert 'id="account-switch"' in dashboard.text
            assert re.search(rf'<option value="{second}" selected>', dashboard.text)
            assert 'href="/client/services"' in dashboard.text  # allowed in this account
            # Switching back: only invoices there.
            switched = await bill.post(
                "/client/account",
                data={"_csrf_token": csrf_from(dashboard.text), "account": str(first)},
            )
            assert switched.status_code == 303
            back = await bill.get("/client")
            assert 'href="/client/services"' not in back.text
            assert re.search(rf'<option value="{first}" selected>', back.text)

        # A third account: Bill, logged in, accepts with the Accept button.
        third = await make_client(email="cat@example.com", username="cat")
        async with browser_session() as cat:
            assert (await client_login(cat, "cat")).status_code == 303
            await invite(cat, "bill@example.com", [])
        link = await latest_link("bill@example.com")
        async with browser_session() as bill:
            assert (await client_login(bill, "bill@example.com", BILL_PASSWORD)).status_code == 303
            shown = await bill.get(link)
            assert "You are logged in as Bill Payer" in shown.text
            assert "I already have a login" not in shown.text
            accepted = await post_form(bill, link, f"{link}/accept")
            assert accepted.status_code == 303
            dashboard = await bill.get("/client")
            assert re.search(rf'<option value="{third}" selected>', dashboard.text)
            again = await post_form(bill, "/client", f"{link}/accept")
            assert again.status_code == 404 and INVALID in again.text

    bill_id = await user_id("bill@example.com")
    assert await users.account_ids(bill_id) == [first, second, third]
    assert await AccountUser.count().where(AccountUser.email == "bill@example.com") == 1


async def test_accepting_into_an_account_one_already_belongs_to(owner):
    http, _ = owner
    await invite(http, "bill@example.com", ["invoices"])
    link = await latest_link("bill@example.com")
    async with browser_session() as bill:
        await create_login(bill, link)
    # The owner invites Bill's other address; Bill (already a user) tries to accept it.
    await AccountUser.update({AccountUser.email: "bill@work.example.com"}).where(
        AccountUser.email == "bill@example.com"
    )
    await invite(http, "bill@example.com", ["services"])
    link = await latest_link("bill@example.com")
    async with browser_session() as bill:
        await client_login(bill, "bill@example.com", BILL_PASSWORD)
        refused = await post_form(bill, link, f"{link}/accept")
        assert refused.status_code == 422
        assert "You are already a user of this account." in refused.text
    assert await users.invitation_for(link.rsplit("/", 1)[1]) is not None  # still usable


async def test_owner_changes_permissions_removes_users_and_cannot_remove_themselves(owner):
    http, account = owner
    await invite(http, "bill@example.com", ["invoices"])
    async with browser_session() as bill:
        await create_login(bill, await latest_link("bill@example.com"))
    bill_id, ann_id = await user_id("bill@example.com"), await user_id("ann")

    page = await http.get(f"/client/users/{bill_id}")
    assert page.status_code == 200 and "Permissions of Bill Payer" in page.text
    saved = await http.post(
        f"/client/users/{bill_id}",
        data={"_csrf_token": csrf_from(page.text), "permissions": ["invoices", "contacts"]},
    )
    assert saved.status_code == 303
    assert (await users.membership(bill_id, account)).permissions == {"invoices", "contacts"}

    confirm = await http.get(f"/client/users/{ann_id}/remove")
    assert confirm.status_code == 200
    refused = await http.post(
        f"/client/users/{ann_id}/remove", data={"_csrf_token": csrf_from(confirm.text)}
    )
    assert refused.status_code == 422 and "The owner cannot be removed." in refused.text
    assert await users.membership(ann_id, account) is not None

    confirm = await http.get(f"/client/users/{bill_id}/remove")
    assert "Remove Bill Payer from the account?" in confirm.text
    removed = await http.post(
        f"/client/users/{bill_id}/remove", data={"_csrf_token": csrf_from(confirm.text)}
    )
    assert removed.status_code == 303
    # Bill belonged to this account only: his login is gone.
    assert await AccountUser.count().where(AccountUser.id == bill_id) == 0
    assert (await http.get(f"/client/users/{bill_id}")).status_code == 404


async def test_removing_a_user_of_two_accounts_keeps_the_login(owner):
    http, account = owner
    await invite(http, "bill@example.com", ["invoices"])
    async with browser_session() as bill:
        await create_login(bill, await latest_link("bill@example.com"))
    await make_client(email="bob@example.com", username="bob")
    async with browser_session() as bob:
        await client_login(bob, "bob")
        await invite(bob, "bill@example.com", ["invoices"])
    async with browser_session() as bill:
        link = await latest_link("bill@example.com")
        await post_form(
            bill, link, f"{link}/login", identifier="bill@example.com", login_password=BILL_PASSWORD
        )
        bill_id = await user_id("bill@example.com")
        removed = await post_form(
            http, f"/client/users/{bill_id}/remove", f"/client/users/{bill_id}/remove"
        )
        assert removed.status_code == 303
        assert await AccountUser.count().where(AccountUser.id == bill_id) == 1
        assert await users.membership(bill_id, account) is None


async def test_transfer_ownership_needs_the_owners_password(owner):
    http, account = owner
    await invite(http, "bill@example.com", ["invoices"])
    async with browser_session() as bill:
        await create_login(bill, await latest_link("bill@example.com"))
    bill_id, ann_id = await user_id("bill@example.com"), await user_id("ann")

    assert (await http.get(f"/client/users/{ann_id}/owner")).status_code == 404
    page = await http.get(f"/client/users/{bill_id}/owner")
    assert page.status_code == 200 and "Make Bill Payer the owner?" in page.text
    wrong = await http.post(
        f"/client/users/{bill_id}/owner",
        data={"_csrf_token": csrf_from(page.text), "password": "Not-my-password-1"},
    )
    assert wrong.status_code == 422
    assert 'id="password-error"' in wrong.text and "The current password is not correct." in (
        wrong.text
    )
    assert (await users.membership(ann_id, account)).owner

    done = await http.post(
        f"/client/users/{bill_id}/owner",
        data={"_csrf_token": csrf_from(page.text), "password": PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/client"
    assert (await users.membership(bill_id, account)).owner
    ann = await users.membership(ann_id, account)
    assert not ann.owner and ann.permissions == frozenset(users.ACCOUNT_PERMISSIONS)
    # Ann is no longer the owner: the Users page is not hers any more.
    assert (await http.get("/client/users")).status_code == 403
    # Bill, the owner now, edits the details; the email is Ann's login's, and stays hers.
    async with browser_session() as bill:
        assert (await client_login(bill, "bill@example.com", BILL_PASSWORD)).status_code == 303
        page = await bill.get("/client/details")  # shown, not offered
        assert "ann@example.com" in page.text and 'name="email"' not in page.text
        form = {
            **await own_details_form(bill),
            "email": "bill-owns@example.com",
            "current_password": BILL_PASSWORD,
        }
        assert (await bill.post("/client/details", data=form)).status_code == 303
    ann_login = await AccountUser.select(AccountUser.email).where(AccountUser.id == ann_id).first()
    assert ann_login["email"] == "ann@example.com"


async def test_staff_invite_revoke_and_remove_from_the_profile_widget(admin_client, company_id):
    account = await make_client(username="ann")
    widget_url = f"/admin/clients/{account}/widgets/users"
    widget = await admin_client.get(widget_url, headers={"HX-Request": "true"})
    assert widget.status_code == 200
    assert 'data-widget-content="users"' in widget.text and 'data-user="ann"' in widget.text
    assert "Owner" in widget.text and "Invite a user" in widget.text
    profile = await admin_client.get(f"/admin/clients/{account}")
    assert 'id="widget-users"' in profile.text
    token = csrf_from(profile.text)

    bad = await admin_client.post(
        f"/admin/clients/{account}/users/invite",
        data={"_csrf_token": token, "email": "ann@example.com", "permissions": "invoices"},
    )
    assert bad.status_code == 422
    assert "This address is already a user of the account." in bad.text
    assert 'value="ann@example.com"' in bad.text

    sent = await admin_client.post(
        f"/admin/clients/{account}/users/invite",
        data={"_csrf_token": token, "email": "bill@example.com", "permissions": "invoices"},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/admin/clients/{account}#widget-users"
    mail = await MailMessage.select().where(MailMessage.kind == "invitation").first()
    assert mail["to_address"] == "bill@example.com"
    assert "Ada Admin has invited you" in mail["body_text"]
    widget = await admin_client.get(widget_url)
    assert "bill@example.com" in widget.text and "Ada Admin" in widget.text

    async with browser_session() as bill:
        assert (await create_login(bill, await latest_link("bill@example.com"))).status_code == 303
    bill_id = await user_id("bill@example.com")
    assert 'data-user="bill@example.com"' in (await admin_client.get(widget_url)).text

    await admin_client.post(
        f"/admin/clients/{account}/users/invite",
        data={"_csrf_token": token, "email": "carl@example.com"},
    )
    invitation = (
        await AccountInvitation.select()
        .where(AccountInvitation.email == "carl@example.com")
        .first()
    )
    revoked = await admin_client.post(
        f"/admin/clients/{account}/users/invitations/{invitation['id']}/revoke",
        data={"_csrf_token": token},
    )
    assert revoked.status_code == 303
    fragment = await admin_client.get(widget_url, headers={"HX-Request": "true"})
    assert "carl@example.com" not in fragment.text

    owner_removal = await admin_client.post(
        f"/admin/clients/{account}/users/{await user_id('ann')}/remove",
        data={"_csrf_token": token},
    )
    assert owner_removal.status_code == 303
    assert "The owner cannot be removed." in (await admin_client.get(widget_url)).text
    removed = await admin_client.post(
        f"/admin/clients/{account}/users/{bill_id}/remove", data={"_csrf_token": token}
    )
    assert removed.status_code == 303
    assert await AccountMember.count().where(AccountMember.user == bill_id) == 0
    assert await AccountUser.count().where(AccountUser.id == bill_id) == 0


async def test_support_staff_cannot_manage_an_accounts_users(admin_client, company_id):
    account = await make_client(username="ann")
    await _support(company_id)
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50003))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as sam:
        await login_staff(sam, "sam@example.com", SUPPORT_PASSWORD)
        widget = await sam.get(f"/admin/clients/{account}/widgets/users")
        assert widget.status_code == 200
        assert "Only staff who may edit clients" in widget.text and "ann@" not in widget.text
        profile = await sam.get(f"/admin/clients/{account}")
        token = csrf_from(profile.text)
        for path in [
            f"/admin/clients/{account}/users/invite",
            f"/admin/clients/{account}/users/{await user_id('ann')}/remove",
            f"/admin/clients/{account}/users/invitations/1/revoke",
        ]:
            refused = await sam.post(path, data={"_csrf_token": token, "email": "eve@example.com"})
            assert refused.status_code == 403, path
    assert await MailMessage.count().where(MailMessage.kind == "invitation") == 0
    assert await AccountInvitation.count() == 0


async def test_an_owner_cannot_manage_another_accounts_users(company_id):
    """Another account's user ids answer 404 on an owner's Users pages."""
    account = await make_client(username="ann")
    await make_client(email="bob@example.com", username="bob")
    async with browser_session() as bob:
        await client_login(bob, "bob")
        page = await bob.get("/client/users")
        ann_id = await user_id("ann")
        assert (await bob.get(f"/client/users/{ann_id}")).status_code == 404
        refused = await bob.post(
            f"/client/users/{ann_id}/remove", data={"_csrf_token": csrf_from(page.text)}
        )
        assert refused.status_code == 404
    assert await users.membership(ann_id, account) is not None


async def test_guessing_invitation_links_is_throttled_per_address(owner):
    http, _ = owner
    assert (await invite(http, "bill@example.com", ["invoices"])).status_code == 303
    link = await latest_link("bill@example.com")
    transport = httpx.ASGITransport(app=create_app(), client=("192.0.2.7", 50007))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver.local"
    ) as guesser:
        for number in range(30):
            guess = await guesser.get(f"/client/invitation/guess-{number:04d}")
            assert guess.status_code == 404
        refused = await guesser.get(link)
        assert refused.status_code == 429, "even a real link, once the address guessed too often"
        assert refused.headers["retry-after"] == "900"
        assert "Too many attempts" in refused.text
    async with browser_session() as invitee:
        assert (await invitee.get(link)).status_code == 200, "other addresses are not affected"


async def test_guessing_password_reset_links_is_throttled_too(client):
    for number in range(30):
        assert (await client.get(f"/client/reset/guess-{number:04d}")).status_code == 404
    refused = await client.get("/client/reset/guess-9999")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "900"
    page = await client.get("/client/login")
    posted = await client.post(
        "/client/reset/guess-9998",
        data={"_csrf_token": csrf_from(page.text), "password": "Whatever-otter-12"},
    )
    assert posted.status_code == 429


async def test_ids_out_of_any_range_answer_404(owner, staff):
    http, client_id = owner
    huge = "99999999999999999999999"
    page = await http.get("/client/users")
    for url in [
        f"/client/users/invitations/{huge}/revoke",
        f"/client/users/{huge}",
        f"/client/users/{huge}/remove",
        f"/client/users/{huge}/owner",
        f"/client/contacts/{huge}/edit",
        f"/client/contacts/{huge}/delete",
    ]:
        answer = await http.post(url, data={"_csrf_token": csrf_from(page.text), "password": "x"})
        assert answer.status_code == 404, url
    await http.post("/client/logout", data={"_csrf_token": csrf_from(page.text)})
    await login_staff(http, staff["email"], staff["password"])
    profile = await http.get(f"/admin/clients/{client_id}")
    for url in [
        f"/admin/clients/{client_id}/users/invitations/{huge}/revoke",
        f"/admin/clients/{client_id}/users/{huge}/remove",
    ]:
        answer = await http.post(url, data={"_csrf_token": csrf_from(profile.text)})
        assert answer.status_code == 404, url
