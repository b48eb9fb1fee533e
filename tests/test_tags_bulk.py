"""Tags on clients, segments (saved Browse filters) and bulk actions from Browse and the search
results, over HTTP through the app: each bulk action runs as a job (run here by the job code
itself, as the command line does), on the clients selected when it was queued, audited per
client, within the staff member's permissions and company."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import httpx

from conftest import create_app, csrf_from, login_staff
from portal.activity.tables import ActivityEvent
from portal.client_groups.services import GroupDetails, create_group
from portal.clients import lifecycle, segments, tags
from portal.clients.tables import Client, ClientAudit, ClientTag, Segment, Tag
from portal.core.actors import SYSTEM
from portal.core.permissions import CLIENTS_BULK, CLIENTS_EDIT, CLIENTS_VIEW
from portal.jobs import services as jobs
from portal.jobs.tables import Job
from portal.plugins.mass_mailer import services as mailer
from portal.plugins.mass_mailer.services import MailingFilter
from portal.staff import groups
from portal.staff import services as staff_services
from test_mass_mailer_helpers import add_client

PASSWORD = "Quiet-river-73"  # noqa: S105 - a test credential
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
ROW = re.compile(r'<td><a href="/admin/clients/(\d+)">')


@contextlib.asynccontextmanager
async def _session(email: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another staff member's own session beside the test's admin_client."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        await login_staff(http, email, PASSWORD)
        yield http


async def _staff_with(company_id: int, email: str, *permissions: str) -> None:
    name = f"Group of {email}"
    await groups.create_group(company_id, name, list(permissions), SYSTEM)
    await staff_services.create_staff(
        email=email, password=PASSWORD, company_ids=[company_id], group=name
    )


async def _people(company_id: int) -> dict[str, int]:
    """Three clients in Germany (two opted in to marketing), two in France."""
    return {
        "anna": await add_client(company_id, "Anna", "anna@example.de", opted_in=True),
        "bernd": await add_client(company_id, "Bernd", "bernd@example.de", opted_in=True),
        "clara": await add_client(company_id, "Clara", "clara@example.de", opted_in=False),
        "denis": await add_client(
            company_id, "Denis", "denis@example.fr", opted_in=True, country="FR"
        ),
        "eloise": await add_client(
            company_id, "Eloise", "eloise@example.fr", opted_in=False, country="FR"
        ),
    }


def _listed(response: httpx.Response) -> list[int]:
    return [int(client_id) for client_id in ROW.findall(response.text)]


def _tab_counts(response: httpx.Response) -> dict[str, int]:
    return {
        tab: int(count.replace(",", ""))
        for tab, count in re.findall(
            r'id="tab-(\w+)"[^>]*>[^<]*<span class="tab-count">([\d,]+)</span>', response.text
        )
    }


async def _add_tag(client: httpx.AsyncClient, name: str, colour: str = "green") -> httpx.Response:
    page = await client.get("/admin/clients/tags")
    return await client.post(
        "/admin/clients/tags",
        data={"_csrf_token": csrf_from(page.text), "name": name, "colour": colour},
    )


async def _tag_id(company_id: int, name: str) -> int:
    row = await Tag.select(Tag.id).where(Tag.company == company_id, Tag.name == name).first()
    return row["id"]


async def _confirm(http: httpx.AsyncClient, **params) -> httpx.Response:
    """The confirmation page of a bulk action, as Browse's form opens it."""
    return await http.get("/admin/clients/bulk", params=params)


async def _queue(client: httpx.AsyncClient, confirm: httpx.Response, **fields) -> httpx.Response:
    """Confirms: the confirmation page's form, with `fields` filled in."""
    assert 'id="bulk-confirm"' in confirm.text, confirm.text
    data: dict[str, list[str]] = {"_csrf_token": [csrf_from(confirm.text)]}
    for name, value in HIDDEN.findall(confirm.text):
        data.setdefault(name, []).append(html.unescape(value))
    for name, value in fields.items():
        data[name] = value if isinstance(value, list) else [value]
    return await client.post("/admin/clients/bulk", data=data)


def _job_of(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/admin/jobs/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


async def _statuses(*client_ids: int) -> dict[int, str]:
    rows = await Client.select(Client.id, Client.status).where(Client.id.is_in(list(client_ids)))
    return {row["id"]: row["status"] for row in rows}


# --- tags -------------------------------------------------------------------------------------


async def test_tags_are_managed_and_put_on_clients_from_the_profile(
    admin_client, company_id, second_company
):
    people = await _people(company_id)
    anna = people["anna"]
    assert (await _add_tag(admin_client, "VIP", "purple")).status_code == 303
    for name, colour, message in (
        ("vip", "green", "already has a tag with this name"),  # names ignore case
        ("", "green", "Name is required"),
        ("Gold", "mauve", "Choose a colour from the list"),
        ("x" * 51, "green", "Name is too long"),
    ):
        refused = await _add_tag(admin_client, name, colour)
        assert refused.status_code == 422 and message in refused.text, name
    vip = await _tag_id(company_id, "VIP")
    listing = await admin_client.get("/admin/clients/tags")
    assert 'class="badge tag-chip tag-purple">VIP</span>' in listing.text

    # The profile: added and removed, with a line in the client's history each time.
    profile = await admin_client.get(f"/admin/clients/{anna}")
    assert '<label class="visually-hidden" for="add-client-tag">Tag to add</label>' in profile.text
    token = csrf_from(profile.text)
    added = await admin_client.post(
        f"/admin/clients/{anna}/tags", data={"_csrf_token": token, "tag": str(vip)}
    )
    assert added.status_code == 303
    profile = await admin_client.get(f"/admin/clients/{anna}")
    assert 'tag-chip tag-purple">VIP</span>' in profile.text
    assert "Remove the tag VIP" in profile.text
    # htmx swaps the tag box alone.
    removed = await admin_client.post(
        f"/admin/clients/{anna}/tags/{vip}/remove",
        data={"_csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": "client-tags"},
    )
    assert removed.status_code == 200
    assert 'id="client-tags"' in removed.text and "<html" not in removed.text
    assert not await ClientTag.exists().where(ClientTag.client == anna)
    history = await ClientAudit.select(ClientAudit.field, ClientAudit.new_value).where(
        ClientAudit.client_id == anna, ClientAudit.field.like("Tag%")
    )
    assert history == [
        {"field": "Tag added", "new_value": "VIP"},
        {"field": "Tag removed", "new_value": "VIP"},
    ]

    # Another company's tags and clients are not there for this one.
    theirs = await tags.create_tag(second_company, "Theirs", "red", SYSTEM)
    their_client = await add_client(second_company, "Zoe", "zoe@example.com", opted_in=False)
    for path, data in (
        (f"/admin/clients/{anna}/tags", {"tag": str(theirs)}),
        (f"/admin/clients/{their_client}/tags", {"tag": str(vip)}),
        (f"/admin/clients/tags/{theirs}/edit", {"name": "Mine", "colour": "red"}),
        (f"/admin/clients/tags/{theirs}/delete", {}),
    ):
        response = await admin_client.post(path, data={"_csrf_token": token, **data})
        assert response.status_code == 404, path
    assert not await ClientTag.exists().where(ClientTag.tag == theirs)

    # Renamed, then deleted: taken off its clients.
    await tags.tag_client(company_id, anna, vip, SYSTEM)
    edit = await admin_client.get(f"/admin/clients/tags/{vip}/edit")
    renamed = await admin_client.post(
        f"/admin/clients/tags/{vip}/edit",
        data={"_csrf_token": csrf_from(edit.text), "name": "  Gold   Club ", "colour": "yellow"},
    )
    assert renamed.status_code == 303
    assert 'tag-yellow">Gold Club</span>' in (await admin_client.get(f"/admin/clients/{anna}")).text
    confirm = await admin_client.get(f"/admin/clients/tags/{vip}/delete")
    assert "1 client has this tag" in confirm.text
    deleted = await admin_client.post(
        f"/admin/clients/tags/{vip}/delete", data={"_csrf_token": csrf_from(confirm.text)}
    )
    assert deleted.status_code == 303
    assert not await ClientTag.exists().where(ClientTag.client == anna)
    assert await ActivityEvent.exists().where(
        ActivityEvent.summary == "Deleted the tag Gold Club, taking it off 1 client."
    )


async def test_browse_filters_by_tag_with_its_counts_and_shows_the_chips(admin_client, company_id):
    people = await _people(company_id)
    vip = await tags.create_tag(company_id, "VIP", "blue", SYSTEM)
    for name in ("anna", "clara", "denis"):
        await tags.tag_client(company_id, people[name], vip, SYSTEM)
    await lifecycle.set_status(company_id, people["clara"], "inactive", SYSTEM)
    browse = await admin_client.get("/admin/clients", params={"tag": str(vip)})
    assert browse.status_code == 200
    assert _tab_counts(browse) == {"active": 2, "inactive": 1, "fraud": 0}
    assert _listed(browse) == [people["anna"], people["denis"]]
    assert f'<option value="{vip}" selected>VIP</option>' in browse.text
    assert browse.text.count('tag-chip tag-blue">VIP</span>') == 2
    german = await admin_client.get("/admin/clients", params={"tag": str(vip), "country": "DE"})
    assert _tab_counts(german) == {"active": 1, "inactive": 1, "fraud": 0}
    assert _listed(german) == [people["anna"]]
    # A tag no one has, and one that is not a number.
    empty = await tags.create_tag(company_id, "Empty", "grey", SYSTEM)
    nobody = await admin_client.get("/admin/clients", params={"tag": str(empty)})
    assert _tab_counts(nobody) == {"active": 0, "inactive": 0, "fraud": 0}
    assert (await admin_client.get("/admin/clients?tag=abc")).status_code == 400
    # Search results show the chips too.
    found = await admin_client.get("/admin/clients/search", params={"q": "Tester"})
    assert found.text.count('tag-chip tag-blue">VIP</span>') == 3


# --- segments ---------------------------------------------------------------------------------


async def test_segments_are_saved_from_browse_applied_and_deleted(admin_client, company_id):
    people = await _people(company_id)
    browse = await admin_client.get(
        "/admin/clients", params={"country": "DE", "tab": "active", "sort": "name", "page": "1"}
    )
    assert 'id="save-segment"' in browse.text
    token = csrf_from(browse.text)
    view = "country=de&sort=name&dir=desc&page=3&tab=inactive"  # normalised: the filters only
    saved = await admin_client.post(
        "/admin/clients/segments", data={"_csrf_token": token, "name": " Germany ", "view": view}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/clients?country=DE"
    segment = await Segment.select().first()
    assert (segment["name"], segment["filters"], segment["created_by"]) == (
        "Germany",
        "country=DE",
        "Ada Admin",
    )
    applied = await admin_client.get(saved.headers["location"])
    assert _listed(applied) == [people["anna"], people["bernd"], people["clara"]]
    assert 'href="/admin/clients?country=DE" aria-current="page">Germany</a>' in applied.text
    listing = await admin_client.get("/admin/clients/segments")
    assert "Country: Germany" in listing.text

    for name, view, message in (
        ("GERMANY", "country=FR", "already has a segment with this name"),
        ("Everyone", "tab=inactive&sort=name", "Choose at least one filter"),
        ("", "country=FR", "Segment name is required"),
        ("Nowhere", "country=XX", "Country: choose a country from the list"),
    ):
        refused = await admin_client.post(
            "/admin/clients/segments", data={"_csrf_token": token, "name": name, "view": view}
        )
        assert refused.status_code == 422 and message in refused.text, name
        assert f'value="{html.escape(name, quote=True)}"' in refused.text  # kept as typed
    # Without the form's token, nothing is saved.
    forged = await admin_client.post(
        "/admin/clients/segments", data={"name": "Forged", "view": "country=FR"}
    )
    assert forged.status_code == 403
    assert await Segment.count() == 1

    deleted = await admin_client.post(
        f"/admin/clients/segments/{segment['id']}/delete", data={"_csrf_token": token}
    )
    assert deleted.status_code == 303
    assert await Segment.count() == 0


async def test_the_mass_mailer_offers_segments_as_recipients(
    admin_client, company_id, second_company
):
    people = await _people(company_id)
    vip = await tags.create_tag(company_id, "VIP", "blue", SYSTEM)
    for name in ("bernd", "denis"):
        await tags.tag_client(company_id, people[name], vip, SYSTEM)
    germany = await segments.save_segment(company_id, "Germany", {"country": "DE"}, SYSTEM)
    tagged = await segments.save_segment(company_id, "VIP", {"tag": str(vip)}, SYSTEM)
    # Marketing: the opted-in clients the segment finds now.
    assert await mailer.count_recipients(company_id, MailingFilter(segment_id=germany)) == 2
    assert await mailer.count_recipients(company_id, MailingFilter(segment_id=tagged)) == 2
    assert await mailer.count_recipients(company_id, MailingFilter(kind="service")) == 5
    service_de = MailingFilter(kind="service", segment_id=germany)
    assert await mailer.count_recipients(company_id, service_de) == 3
    exported = [row["email"] async for row in mailer.iter_recipients(company_id, service_de)]
    assert exported == ["anna@example.de", "bernd@example.de", "clara@example.de"]
    await tags.untag_client(company_id, people["denis"], vip, SYSTEM)
    assert await mailer.count_recipients(company_id, MailingFilter(segment_id=tagged)) == 1

    # The Filter step lists them and counts with one.
    page = await admin_client.get(
        "/admin/tools/mass-mailer", params={"filter": "1", "status": "active", "segment": germany}
    )
    assert page.status_code == 200
    assert f'<option value="{germany}" selected>Germany</option>' in page.text
    assert re.search(r'id="recipient-count-number">2<', page.text)

    # A segment deleted meanwhile reaches nobody, and the Filter step says why.
    await segments.delete_segment(company_id, germany, SYSTEM)
    assert await mailer.count_recipients(company_id, MailingFilter(segment_id=germany)) == 0
    page = await admin_client.get(
        "/admin/tools/mass-mailer", params={"filter": "1", "status": "active", "segment": germany}
    )
    assert "That segment was deleted: choose another." in page.text
    # Another company's segment reaches nobody either.
    theirs = await segments.save_segment(second_company, "X", {"country": "DE"}, SYSTEM)
    assert await mailer.count_recipients(company_id, MailingFilter(segment_id=theirs)) == 0


async def test_browse_hands_its_clients_to_the_mass_mailer(admin_client, company_id):
    people = await _people(company_id)
    # All that Browse finds: its filters and tab, found again by the mailer whenever it counts.
    handed = await _confirm(
        admin_client,
        action="/admin/tools/mass-mailer/from-clients",
        scope="all",
        source="browse",
        view="country=DE&sort=name&page=1",
    )
    assert handed.status_code == 303
    assert handed.headers["location"] == "/admin/tools/mass-mailer/from-clients?country=DE"
    opened = await admin_client.get(handed.headers["location"])
    assert opened.status_code == 303
    query = dict(parse_qsl(urlsplit(opened.headers["location"]).query))
    assert query["browse_filter"] == "country=DE" and query["status"] == "active"
    page = await admin_client.get(opened.headers["location"])
    assert "Only the clients Browse finds with Country: Germany" in page.text
    assert re.search(r'id="recipient-count-number">2<', page.text)
    # Ticked rows: by their IDs, whatever their status; IDs of no client are dropped.
    handed = await _confirm(
        admin_client,
        action="/admin/tools/mass-mailer/from-clients",
        scope="selected",
        source="search",
        view="q=Tester",
        client=[str(people["bernd"]), str(people["denis"]), "999999"],
    )
    assert handed.headers["location"] == (
        f"/admin/tools/mass-mailer/from-clients?client={people['bernd']}&client={people['denis']}"
    )
    opened = await admin_client.get(handed.headers["location"])
    page = await admin_client.get(opened.headers["location"])
    assert "Only the 2 clients chosen in Clients" in page.text
    assert re.search(r'id="recipient-count-number">2<', page.text)


# --- bulk actions -----------------------------------------------------------------------------


async def test_all_that_match_get_a_new_status_in_one_job_audited_per_client(
    admin_client, company_id
):
    people = await _people(company_id)
    browse = await admin_client.get("/admin/clients", params={"country": "DE"})
    assert 'id="bulk-form"' in browse.text and "All 3 matching" in browse.text
    confirm = await _confirm(
        admin_client, action="status", scope="all", source="browse", view="country=DE&page=1"
    )
    assert "<strong>3 clients</strong> are selected" in confirm.text
    # No status chosen: the form again, with the count.
    refused = await _queue(admin_client, confirm)
    assert refused.status_code == 422 and "Choose Active, Inactive or Fraud." in refused.text
    job_id = _job_of(await _queue(admin_client, confirm, status="inactive"))
    job = await Job.select().where(Job.id == job_id).first()
    assert (job["kind"], job["total"], job["title"]) == (
        "clients-bulk",
        3,
        "Change status to Inactive: 3 clients",
    )
    view = await jobs.run_job(job_id)
    assert (view.status, view.done, view.failed) == ("done", 3, 0)
    german = [people[name] for name in ("anna", "bernd", "clara")]
    assert set((await _statuses(*german)).values()) == {"inactive"}
    assert (await _statuses(people["denis"]))[people["denis"]] == "active"
    lines = await ClientAudit.select(ClientAudit.client_id, ClientAudit.new_value).where(
        ClientAudit.field == "Status"
    )
    assert sorted((line["client_id"], line["new_value"]) for line in lines) == [
        (client_id, "Inactive") for client_id in german
    ]
    # One line in the activity log for the job, none per client.
    summaries = [
        row["summary"]
        for row in await ActivityEvent.select(ActivityEvent.summary).where(
            ActivityEvent.summary.like("%Status%") | ActivityEvent.summary.like("Bulk%")
        )
    ]
    assert summaries == [f"Bulk action (job {job_id}): set the status of 3 clients to Inactive."]
    page = await admin_client.get(f"/admin/jobs/{job_id}")
    assert page.status_code == 200
    assert 'href="/admin/clients?country=DE&amp;page=1">Back</a>' in page.text
    assert "set the status of 3 clients to Inactive" in page.text


async def test_group_and_tags_change_and_clients_deleted_meanwhile_are_problem_rows(
    admin_client, company_id, staff
):
    people = await _people(company_id)
    resellers = await create_group(company_id, GroupDetails(name="Resellers"), SYSTEM)
    vip = await tags.create_tag(company_id, "VIP", "teal", SYSTEM)
    await tags.tag_client(company_id, people["anna"], vip, SYSTEM)
    selected = [str(people[name]) for name in ("anna", "bernd", "denis")]
    group_job = _job_of(
        await _queue(
            admin_client,
            await _confirm(admin_client, action="group", scope="selected", client=selected),
            group=str(resellers),
        )
    )
    tag_job = _job_of(
        await _queue(
            admin_client,
            await _confirm(admin_client, action="add_tag", scope="page", page_client=selected),
            tag=str(vip),
        )
    )
    # Bernd is deleted after the jobs were queued, before they run.
    number = (await Client.select(Client.number).where(Client.id == people["bernd"]).first())[
        "number"
    ]
    await Client.delete().where(Client.id == people["bernd"])
    view = await jobs.run_job(group_job)
    assert (view.status, view.done, view.failed) == ("done", 2, 1)
    problems = await jobs.problems(group_job, 10)
    assert [(p.row, p.message) for p in problems] == [(number, "Deleted meanwhile: nothing done.")]
    rows = await Client.select(Client.id, Client.group).where(Client.company == company_id)
    assert {row["id"] for row in rows if row["group"] == resellers} == {
        people["anna"],
        people["denis"],
    }
    view = await jobs.run_job(tag_job)
    assert (view.status, view.done, view.failed) == ("done", 2, 1)
    assert "1 of them already were so" in view.message  # Anna had the tag
    tagged = await ClientTag.select(ClientTag.client).where(ClientTag.tag == vip)
    assert sorted(row["client"] for row in tagged) == sorted([people["anna"], people["denis"]])
    history = (
        await ClientAudit.select(ClientAudit.field)
        .where(ClientAudit.client_id == people["denis"])
        .order_by(ClientAudit.id)
    )
    assert [line["field"] for line in history][-2:] == ["Client Group", "Tag added"]

    # Removing: those that have it lose it.
    remove_job = _job_of(
        await _queue(
            admin_client,
            await _confirm(admin_client, action="remove_tag", scope="all", source="browse"),
            tag=str(vip),
        )
    )
    assert (await jobs.run_job(remove_job)).status == "done"
    assert not await ClientTag.exists().where(ClientTag.tag == vip)

    # A tag deleted between queueing and running stops the job with a message.
    late = _job_of(
        await _queue(
            admin_client,
            await _confirm(admin_client, action="add_tag", scope="selected", client=selected),
            tag=str(vip),
        )
    )
    await tags.delete_tag(company_id, vip, SYSTEM)
    view = await jobs.run_job(late)
    assert (view.status, view.message) == ("failed", "The tag was deleted meanwhile.")


async def test_the_count_is_confirmed_again_when_the_selection_changed(admin_client, company_id):
    await _people(company_id)
    confirm = await _confirm(
        admin_client, action="status", scope="all", source="browse", view="country=FR"
    )
    assert "<strong>2 clients</strong>" in confirm.text
    await add_client(company_id, "Fanny", "fanny@example.fr", opted_in=False, country="FR")
    again = await _queue(admin_client, confirm, status="fraud")
    assert again.status_code == 422
    assert "3 clients are selected now, not the number you saw" in again.text
    assert "<strong>3 clients</strong>" in again.text
    assert await Job.count() == 0
    job_id = _job_of(await _queue(admin_client, again, status="fraud"))
    assert (await jobs.run_job(job_id)).done == 3


async def test_export_has_the_columns_chosen_and_no_formulas(admin_client, company_id):
    people = await _people(company_id)
    await Client.raw(
        "UPDATE contact SET company = '=cmd|'' /C calc''!A0', city = '@SUM(1)' WHERE client = {}",
        people["anna"],
    )
    vip = await tags.create_tag(company_id, "+VIP", "red", SYSTEM)
    await tags.tag_client(company_id, people["anna"], vip, SYSTEM)
    confirm = await _confirm(admin_client, action="export", scope="all", view="country=DE")
    assert 'id="column-code" name="column" value="code" checked' in confirm.text
    for columns in (["code", "password_hash"], []):
        refused = await _queue(admin_client, confirm, column=columns)
        assert refused.status_code == 422 and "Tick the columns" in refused.text
    job_id = _job_of(
        await _queue(admin_client, confirm, column=["code", "company", "city", "tags", "status"])
    )
    view = await jobs.run_job(job_id)
    assert (view.status, view.done) == ("done", 3)
    page = await admin_client.get(f"/admin/jobs/{job_id}")
    assert "Download the file" in page.text
    download = await admin_client.get(f"/admin/jobs/{job_id}/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["Client ID", "Company/Org.", "City", "Tags", "Status"]
    anna = next(row for row in rows[1:] if row[3])
    assert anna[1:] == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "'+VIP", "Active"]
    assert len(rows) == 4
    # The file holds clients' details: acting in bulk without seeing clients is not enough.
    await _staff_with(company_id, "tagger@example.com", CLIENTS_EDIT, CLIENTS_BULK)
    async with _session("tagger@example.com") as tagger:
        for path in (f"/admin/jobs/{job_id}", f"/admin/jobs/{job_id}/download"):
            assert (await tagger.get(path)).status_code == 403, path


async def test_delete_needs_the_password_and_the_bulk_permission(
    admin_client, staff, company_id, second_company
):
    people = await _people(company_id)
    theirs = await add_client(second_company, "Zoe", "zoe@example.com", opted_in=False)
    selected = [str(people["anna"]), str(people["bernd"]), str(theirs)]
    confirm = await _confirm(admin_client, action="delete", scope="selected", client=selected)
    assert "<strong>2 clients</strong>" in confirm.text  # another company's ID is dropped
    assert 'autocomplete="current-password"' in confirm.text
    wrong = await _queue(admin_client, confirm, password="not-my-password")
    assert wrong.status_code == 422 and "That is not your password" in wrong.text
    assert await Job.count() == 0
    # Without the form's token: refused.
    data = {name: html.unescape(value) for name, value in HIDDEN.findall(confirm.text)}
    forged = await admin_client.post(
        "/admin/clients/bulk", data={**data, "password": staff["password"]}
    )
    assert forged.status_code == 403
    job_id = _job_of(await _queue(admin_client, confirm, password=staff["password"]))
    assert (await jobs.run_job(job_id)).done == 2
    assert not await Client.exists().where(Client.id.is_in([people["anna"], people["bernd"]]))
    assert await Client.exists().where(Client.id == theirs)
    assert await ActivityEvent.exists().where(
        ActivityEvent.summary == f"Bulk action (job {job_id}): deleted 2 clients."
    )
    # Only another company's clients: nothing to do.
    nothing = await _confirm(admin_client, action="delete", scope="selected", client=[str(theirs)])
    assert nothing.status_code == 422 and "Tick the clients to act on" in nothing.text

    # A staff member who may browse but not act in bulk sees no bulk form and is refused.
    await _staff_with(company_id, "viewer@example.com", CLIENTS_VIEW)
    async with _session("viewer@example.com") as viewer:
        browse = await viewer.get("/admin/clients")
        assert browse.status_code == 200 and 'id="bulk-form"' not in browse.text
        assert (await _confirm(viewer, action="export", scope="all")).status_code == 403
        forged = await viewer.post(
            "/admin/clients/bulk",
            data={"_csrf_token": csrf_from(browse.text), **data, "action": "export"},
        )
        assert forged.status_code == 403
    # One who may act in bulk and edit, but not delete: no Delete among the actions, and a
    # forged deletion is refused.
    await _staff_with(company_id, "bulker@example.com", CLIENTS_VIEW, CLIENTS_EDIT, CLIENTS_BULK)
    async with _session("bulker@example.com") as bulker:
        browse = await bulker.get("/admin/clients")
        assert '<option value="add_tag">Add a tag</option>' in browse.text
        assert '<option value="delete">' not in browse.text
        assert '<option value="status">' not in browse.text
        assert (await _confirm(bulker, action="delete", scope="all")).status_code == 403
        forged = await bulker.post(
            "/admin/clients/bulk",
            data={
                "_csrf_token": csrf_from(browse.text),
                "action": "delete",
                "scope": "all",
                "confirmed": "2",
                "password": PASSWORD,
            },
        )
        assert forged.status_code == 403
    assert await Client.count().where(Client.company == company_id) == 3


async def test_bad_bulk_requests_get_clear_answers(admin_client, company_id):
    people = await _people(company_id)
    for params, status, message in (
        ({"action": "status", "scope": "selected"}, 422, "Tick the clients to act on"),
        ({"action": "explode", "scope": "all"}, 422, "Choose an action from the list"),
        ({"action": "status", "scope": "all", "view": "country=XX"}, 422, "choose a country"),
        ({"action": "status", "scope": "selected", "client": ["1"] * 1001}, 422, "at most 1,000"),
    ):
        response = await _confirm(admin_client, **params)
        assert response.status_code == status, params
        assert message in response.text
    # A search's matches are the clients to act on.
    confirm = await _confirm(
        admin_client, action="add_tag", scope="all", source="search", view="q=example.fr"
    )
    assert "<strong>2 clients</strong>" in confirm.text
    assert "The company has no tags yet" in confirm.text
    assert 'href="/admin/clients/search?q=example.fr">Back</a>' in confirm.text
    assert people
