"""Merge Client over HTTP: everything of the duplicate moves into the kept client and nothing is
lost, counts and search follow, the old ID leads to the kept profile; a merge with itself,
across companies, after a change made meanwhile, without the permissions or without the CSRF
token is refused and changes nothing."""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import STAFF_PASSWORD, csrf_from, login_staff
from portal.app import create_app
from portal.client_groups.services import FieldDetails, create_field
from portal.clients import counts, lifecycle, merge, search, tags, users
from portal.clients.tables import (
    AccountMember,
    Client,
    ClientAudit,
    ClientMerge,
    ClientSetting,
    ConsentEvent,
    Contact,
)
from portal.core.actors import SYSTEM, Actor
from portal.core.permissions import CLIENTS_DELETE, CLIENTS_EDIT, CLIENTS_VIEW, Forbidden
from portal.plugins.mass_mailer.tables import MailingJob, MailingRecipient
from portal.staff import groups
from portal.staff.services import create_staff
from profile_helpers import add_records, default_group, make_client, rows_of_client

STAFF = Actor(kind="staff", id=None, address="127.0.0.1", name="Ada Admin")
VERSION_FIELD = re.compile(r'name="(kept_version|merged_version)" value="(\d+)"')


async def _preview(http: httpx.AsyncClient, kept: int, merged: int) -> httpx.Response:
    return await http.get(f"/admin/clients/{kept}/merge/preview?duplicate={merged}")


async def _confirm(http: httpx.AsyncClient, kept: int, merged: int, page: str) -> httpx.Response:
    """Posts the preview's own form, with the versions it shows."""
    return await http.post(
        f"/admin/clients/{kept}/merge",
        data={"_csrf_token": csrf_from(page), "duplicate": str(merged)}
        | dict(VERSION_FIELD.findall(page)),
    )


async def _merge(http: httpx.AsyncClient, kept: int, merged: int) -> httpx.Response:
    page = await _preview(http, kept, merged)
    assert page.status_code == 200, page.text
    return await _confirm(http, kept, merged, page.text)


async def _code(client_id: int) -> str:
    return (await Client.select(Client.code).where(Client.id == client_id).first())["code"]


async def _email(client_id: int) -> str:
    row = (
        await Contact.select(Contact.email)
        .where(Contact.client == client_id, Contact.contact_type == "primary")
        .first()
    )
    return row["email"]


async def _pair_with_everything(company_id: int) -> tuple[int, int]:
    """Two clients with records of every kind, sharing a tag and a custom field (with values
    that differ), the duplicate with more: a tag, a field value and a setting of its own, a
    mailing's recipient, marketing consent."""
    group = await default_group(company_id)
    shared = await create_field(company_id, group, FieldDetails(label="Account manager"), SYSTEM)
    own = await create_field(company_id, group, FieldDetails(label="Reseller code"), SYSTEM)
    kept = await make_client(company_id, first_name="Kate", custom={str(shared): "Kept's"})
    merged = await make_client(
        company_id,
        first_name="Dora",
        last_name="Duplicate",
        custom={str(shared): "Duplicate's", str(own): "R-77"},
        marketing_opt_in=True,
    )
    await add_records(company_id, kept, STAFF, login="kate-billing")
    await add_records(company_id, merged, STAFF, login="dora-billing")
    vip = await tags.create_tag(company_id, "VIP", "red", SYSTEM)
    reseller = await tags.create_tag(company_id, "Reseller", "blue", SYSTEM)
    for client_id, tag_id in ((kept, vip), (merged, vip), (merged, reseller)):
        await tags.tag_client(company_id, client_id, tag_id, SYSTEM)
    await ClientSetting.insert(
        ClientSetting(client=kept, key="invoice_delivery", value="email"),
        ClientSetting(client=merged, key="invoice_delivery", value="post"),
        ClientSetting(client=merged, key="late_fees", value="off"),
    )
    job = await MailingJob.insert(
        MailingJob(
            company=company_id,
            kind="marketing",
            filter="{}",
            from_name="Shop",
            from_address="shop@example.com",
            subject="News",
            body_text="Hello",
        )
    ).returning(MailingJob.id)
    await MailingRecipient.insert(
        MailingRecipient(job=job[0]["id"], client=merged, email=await _email(merged))
    )
    return kept, merged


async def test_merging_moves_everything_and_the_old_id_leads_to_the_kept_client(
    admin_client, company_id
):
    kept, merged = await _pair_with_everything(company_id)
    # A client merged into the duplicate earlier: its ID will lead to the kept client too.
    earlier = await make_client(company_id, first_name="Eli")
    earlier_code = await _code(earlier)
    await merge.merge_clients(
        company_id, merged, earlier, kept_version=1, merged_version=1, actor=STAFF
    )
    kept_code, merged_code = await _code(kept), await _code(merged)
    merged_email = await _email(merged)
    kept_before, merged_before = await rows_of_client(kept), await rows_of_client(merged)
    merged_primary = (
        await Contact.select(Contact.id)
        .where(Contact.client == merged, Contact.contact_type == "primary")
        .first()
    )["id"]
    kept_owner, merged_owner = await users.owner_of(kept), await users.owner_of(merged)

    profile = await admin_client.get(f"/admin/clients/{kept}")
    assert f'href="/admin/clients/{kept}/merge">Merge Client</a>' in profile.text
    found = await admin_client.get(f"/admin/clients/{kept}/merge", params={"q": merged_email})
    assert found.status_code == 200
    assert f'href="/admin/clients/{kept}/merge/preview?duplicate={merged}"' in found.text
    # As htmx asks while staff type: the list alone.
    region = await admin_client.get(
        f"/admin/clients/{kept}/merge",
        params={"q": "Dora"},
        headers={"HX-Request": "true", "HX-Target": "merge-candidates"},
    )
    assert '<div id="merge-candidates"' in region.text and "<html" not in region.text
    assert f"duplicate={merged}" in region.text

    preview = await _preview(admin_client, kept, merged)
    assert preview.status_code == 200
    records = {
        label: (int(has), int(moving))
        for label, has, moving in re.findall(
            r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td>',
            preview.text,
        )
    }
    assert records["Invoices"] == (1, 1) and records["Contacts"] == (2, 3)  # Eli too
    assert records["Tags"] == (1, 1)  # VIP is on both: only Reseller moves
    assert records["Custom field values"] == (1, 1)  # the kept client's value stays
    assert records["History lines"][1] == len(merged_before["client_audit"])
    # The duplicate's value that is not kept is shown beside the one that stays.
    assert (
        '<th scope="row">Account manager</th><td>Kept&#39;s</td><td>Duplicate&#39;s</td>'
        in preview.text
    )

    response = await _confirm(admin_client, kept, merged, preview.text)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/clients/{kept}"
    assert (
        f"Client {merged_code} was merged into this client."
        in (await admin_client.get(response.headers["location"])).text
    )

    # Nothing of the duplicate is left, but the one line of its old ID...
    left = await rows_of_client(merged)
    assert list(left) == ["client_audit"] and len(left["client_audit"]) == 1
    [line] = await ClientAudit.select().where(ClientAudit.id == left["client_audit"][0])
    assert (line["field"], line["new_value"]) == ("Client", f"merged into {kept_code}")
    # ...and every row of it is the kept client's now, but where the kept client had the same
    # key (a tag, a field's value, a setting) or the row is derived (the search document).
    after = await rows_of_client(kept)
    replaced = {"custom_field_value", "client_tag", "client_setting", "client_search"}
    # (The users join as new members: counted below.)
    for table in (set(kept_before) | set(merged_before)) - {"client", "account_member"} - replaced:
        moved = set(kept_before.get(table, [])) | set(merged_before.get(table, []))
        assert moved <= set(after[table]), table
        assert len(after[table]) - len(moved) == {
            "client_audit": 1,  # the merge's line
            "activity_event": 1,
            "client_merge": 1,  # the new old ID (the earlier one followed the duplicate)
        }.get(table, 0), table
    for table in ("custom_field_value", "client_tag", "client_setting"):
        assert len(after[table]) == len(kept_before[table]) + len(merged_before[table]) - 1
    assert len(after["client_search"]) == 1
    members = {
        row["user"]: row for row in await AccountMember.select().where(AccountMember.client == kept)
    }
    assert len(members) == len(kept_before["account_member"]) + len(merged_before["account_member"])
    assert members[kept_owner["id"]]["owner"] is True
    assert members[merged_owner["id"]]["owner"] is False
    assert users.permissions_of(members[merged_owner["id"]]["permissions"]) == set(
        users.ACCOUNT_PERMISSIONS
    )
    # The duplicate's primary contact is an Other contact, with the client's consent its own,
    # and the consent records and the mailing's recipient that were the account's name it.
    primary = await Contact.select().where(Contact.id == merged_primary).first()
    assert (primary["client"], primary["contact_type"], primary["marketing_opt_in"]) == (
        kept,
        "other",
        True,
    )
    consents = await ConsentEvent.select().where(
        ConsentEvent.id.is_in(merged_before["consent_event"])
    )
    assert consents and {row["contact"] for row in consents} == {merged_primary}
    [recipient] = await MailingRecipient.select().where(MailingRecipient.client == kept)
    assert recipient["contact"] == merged_primary
    assert (
        await Contact.count().where(Contact.client == kept, Contact.contact_type == "primary") == 1
    )

    # Browse counts one client less; search finds the kept client by the duplicate's email.
    assert sum((await counts.tally(company_id)).values()) == 1
    browse = await admin_client.get("/admin/clients")
    assert '<span class="tab-count">1</span>' in browse.text
    found = await search.find_clients(company_id, search.parse_query(merged_email))
    assert found.client_ids == [kept]
    results = await admin_client.get("/admin/clients/search", params={"q": "R-77"})
    assert f'href="/admin/clients/{kept}"' in results.text

    # The old IDs lead to the kept profile, with a notice.
    for old_id, old_code in ((merged, merged_code), (earlier, earlier_code)):
        redirect = await admin_client.get(f"/admin/clients/{old_id}")
        assert redirect.status_code == 303
        assert redirect.headers["location"] == f"/admin/clients/{kept}"
        landed = await admin_client.get(redirect.headers["location"])
        assert f"Client {old_code} was merged into client {kept_code}" in landed.text
    # One line in the kept client's history (and the activity log) names the merge.
    history = await admin_client.get(f"/admin/clients/{kept}/widgets/history")
    assert f"Client ID {merged_code} (Dora Duplicate)" in history.text
    activity = await admin_client.get("/admin/tools/activity")
    assert f"Merged client: Client ID {merged_code}" in activity.text


async def test_merging_a_client_into_itself_is_refused(admin_client, company_id):
    client_id = await make_client(company_id)
    page = await _preview(admin_client, client_id, client_id)
    assert page.status_code == 422
    assert "A client cannot be merged into itself." in page.text
    response = await admin_client.post(
        f"/admin/clients/{client_id}/merge",
        data={
            "_csrf_token": csrf_from(page.text),
            "duplicate": str(client_id),
            "kept_version": "1",
            "merged_version": "1",
        },
    )
    assert response.status_code == 422
    assert "A client cannot be merged into itself." in response.text
    assert await Client.count() == 1 and await ClientMerge.count() == 0


async def test_a_client_of_another_company_cannot_be_merged(
    admin_client, company_id, second_company
):
    ours = await make_client(company_id)
    theirs = await make_client(second_company)
    assert (await _preview(admin_client, ours, theirs)).status_code == 404
    assert (await _preview(admin_client, theirs, ours)).status_code == 404
    token = csrf_from((await admin_client.get(f"/admin/clients/{ours}")).text)
    for kept, merged in ((ours, theirs), (theirs, ours)):
        response = await admin_client.post(
            f"/admin/clients/{kept}/merge",
            data={
                "_csrf_token": token,
                "duplicate": str(merged),
                "kept_version": "1",
                "merged_version": "1",
            },
        )
        assert response.status_code == 404
    assert await Client.count() == 2 and await ClientMerge.count() == 0
    # Their merged clients' IDs do not lead anywhere here either.
    third = await make_client(second_company)
    await merge.merge_clients(
        second_company, theirs, third, kept_version=1, merged_version=1, actor=SYSTEM
    )
    assert (await admin_client.get(f"/admin/clients/{third}")).status_code == 404


async def test_a_client_changed_meanwhile_is_not_merged(admin_client, company_id):
    kept = await make_client(company_id)
    merged = await make_client(company_id, first_name="Dora")
    preview = await _preview(admin_client, kept, merged)
    # Someone changes the duplicate after the preview was opened.
    await lifecycle.set_status(company_id, merged, "inactive", SYSTEM)
    response = await _confirm(admin_client, kept, merged, preview.text)
    assert response.status_code == 409
    assert "was changed after this page was opened, so nothing was merged" in response.text
    assert await Client.count() == 2 and await ClientMerge.count() == 0
    # The page shows the clients as they are now: confirming it merges them.
    assert 'name="merged_version" value="2"' in response.text
    merged_now = await _confirm(admin_client, kept, merged, response.text)
    assert merged_now.status_code == 303
    # A second click (or someone else's merge) leads to the kept client with a notice.
    again = await _confirm(admin_client, kept, merged, response.text)
    assert again.status_code == 303 and again.headers["location"] == f"/admin/clients/{kept}"


async def test_merging_needs_edit_and_delete_permissions(admin_client, company_id):
    kept = await make_client(company_id)
    merged = await make_client(company_id, first_name="Dora")
    await create_staff(
        email="sam@example.com", password=STAFF_PASSWORD, company_ids=[company_id], group="Support"
    )
    support_group = await groups.group_by_name(company_id, "Support")
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        await login_staff(http, "sam@example.com", STAFF_PASSWORD)
        # Delete alone (no View clients): the search for the duplicate finds no client.
        await groups.update_group(company_id, support_group, "Support", [CLIENTS_DELETE], SYSTEM)
        found = await http.get(f"/admin/clients/{kept}/merge", params={"q": "Dora"})
        assert found.status_code == 403 and "Dora" not in found.text
        for one_of_two in (CLIENTS_EDIT, CLIENTS_DELETE):
            await groups.update_group(
                company_id, support_group, "Support", [CLIENTS_VIEW, one_of_two], SYSTEM
            )
            profile = await http.get(f"/admin/clients/{kept}")
            assert profile.status_code == 200 and "Merge Client" not in profile.text
            assert (await _preview(http, kept, merged)).status_code == 403
            response = await http.post(
                f"/admin/clients/{kept}/merge",
                data={
                    "_csrf_token": csrf_from(profile.text),
                    "duplicate": str(merged),
                    "kept_version": "1",
                    "merged_version": "1",
                },
            )
            assert response.status_code == 403, one_of_two
    assert await Client.count() == 2 and await ClientMerge.count() == 0
    # The service checks its actor too, whoever calls it.
    for one_of_two in (CLIENTS_EDIT, CLIENTS_DELETE):
        actor = Actor(kind="api-key", id=1, permissions=frozenset({CLIENTS_VIEW, one_of_two}))
        with pytest.raises(Forbidden):
            await merge.merge_clients(
                company_id, kept, merged, kept_version=1, merged_version=1, actor=actor
            )
    assert await Client.count() == 2


async def test_merging_without_the_csrf_token_is_refused(admin_client, company_id):
    kept = await make_client(company_id)
    merged = await make_client(company_id, first_name="Dora")
    response = await admin_client.post(
        f"/admin/clients/{kept}/merge",
        data={"duplicate": str(merged), "kept_version": "1", "merged_version": "1"},
    )
    assert response.status_code == 403
    assert await Client.count() == 2 and await ClientMerge.count() == 0


async def test_the_api_says_where_a_merged_client_lives_on(client, company_id):
    from portal.api.permissions import all_api_permissions
    from portal.api.services import create_key

    kept = await make_client(company_id, first_name="Kay")
    merged = await make_client(company_id, first_name="Mo")
    await merge.merge_clients(
        company_id, kept, merged, kept_version=1, merged_version=1, actor=STAFF
    )
    _, key = await create_key(company_id, "tests", all_api_permissions(), SYSTEM)
    response = await client.get(
        f"/api/v1/clients/{merged}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert f"was merged into client {kept}" in response.json()["detail"]
    assert f"/api/v1/clients/{kept}" in response.json()["detail"]
