"""[Tools] > Activity Log over HTTP: changes made through the services (clients, client groups,
staff) and sign-ins appear as sentences with the staff member's name; every filter (staff
member, client, kind, dates) and their combinations narrow the log to what the database holds;
pages; bad filter values answered beside their field; ACTIVITY_READ required; another
company's lines never shown."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from activity_helpers import OTHER_PASSWORD, another_browser, staff_actor, staff_in_group

from clients_helpers import post_add_client
from conftest import STAFF_PASSWORD, csrf_from, get_csrf, login_staff
from portal.activity import services as activity
from portal.activity.tables import ActivityEvent
from portal.client_groups import services as client_groups
from portal.clients.tables import Client
from portal.core.permissions import ACTIVITY_READ
from portal.staff import groups
from portal.staff.services import MemberDetails, invite_member
from profile_helpers import make_client

LOG = "/admin/tools/activity"


class _LogTable(HTMLParser):
    """The rows of the log's table: cell texts, and the link of the "What" cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self._in_body = False
        self._cells: list[str] | None = None
        self._link: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self._cells, self._link = [], None
        elif self._cells is not None and tag == "td":
            self._cells.append("")
        elif self._cells is not None and tag == "a" and len(self._cells) == 4:
            self._link = dict(attrs)["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "tr" and self._cells is not None:
            when, who, kind, what, address = (" ".join(c.split()) for c in self._cells)
            self.rows.append(
                {"when": when, "who": who, "kind": kind, "what": what, "link": self._link}
            )
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data


def log_rows(html: str) -> list[dict]:
    parser = _LogTable()
    parser.feed(html)
    return parser.rows


# --- every kind of change, as staff read it ----------------------------------------------------


async def test_changes_and_sign_ins_appear_as_sentences_with_the_staff_members_name(
    admin_client, staff, company_id
):
    # A client added and its status changed, through the admin area's forms.
    assert (await post_add_client(admin_client)).status_code == 303
    client = await Client.select(Client.id, Client.code).first()
    profile = await admin_client.get(f"/admin/clients/{client['id']}")
    changed = await admin_client.post(
        f"/admin/clients/{client['id']}/status",
        data={"status": "inactive", "_csrf_token": csrf_from(profile.text)},
    )
    assert changed.status_code == 303
    # A client group, through its form.
    token = await get_csrf(admin_client, "/admin/settings/company/client-groups/add")
    created = await admin_client.post(
        "/admin/settings/company/client-groups/add",
        data={
            "name": "VIP",
            "description": "Our best clients",
            "colour": "#7c3aed",
            **{f"mode_{key}": "follow" for key in client_groups.SETTINGS},
            "_csrf_token": token,
        },
    )
    assert created.status_code == 303, created.text[:2000]
    # A staff member invited, through the staff service.
    support = await groups.group_by_name(company_id, "Support")
    await invite_member(
        company_id,
        MemberDetails(
            first_name="Grace", last_name="Hopper", email="grace@example.com", group_id=support
        ),
        staff_actor(staff["id"], "Ada Admin"),
    )
    # A failed sign-in from another browser and address (the good one was admin_client's).
    async with another_browser("203.0.113.9") as other:
        refused = await other.post(
            "/admin/login",
            data={
                "_csrf_token": await get_csrf(other),
                "email": staff["email"],
                "password": "Not-the-password-1",
            },
        )
        assert refused.status_code == 400

    page = await admin_client.get(LOG)
    assert page.status_code == 200
    rows = log_rows(page.text)
    expected = [
        ("Ada Admin", "Failed logins", "Failed sign-in (wrong password).", None),
        (
            "Ada Admin",
            "Staff",
            "Added Grace Hopper (grace@example.com) to the staff, in Support.",
            None,
        ),
        ("Ada Admin", "Client groups and fields", "Created the client group VIP.", None),
        (
            "Ada Admin",
            "Clients",
            f"Client {client['code']}: Status: Active → Inactive.",
            f"/admin/clients/{client['id']}",
        ),
        (
            "Ada Admin",
            "Clients",
            f"Added the client {client['code']}.",
            f"/admin/clients/{client['id']}",
        ),
        ("Ada Admin", "Logins", "Signed in.", None),
    ]
    assert [(r["who"], r["kind"], r["what"], r["link"]) for r in rows] == expected
    failed = next(r for r in rows if r["kind"] == "Failed logins")
    assert "203.0.113.9" in page.text and failed["when"][:4].isdigit()
    # Staff read names and sentences, never the log's internal codes.
    assert "staff:" not in page.text
    for row in rows:
        assert not {"login", "login_failed", "client_groups", "staff"} & set(row.values())


async def test_a_line_about_a_client_links_only_for_staff_who_may_view_clients(
    admin_client, staff, company_id
):
    client_id = await make_client(company_id)
    await groups.create_group(
        company_id, "Auditors", [ACTIVITY_READ], staff_actor(staff["id"], "Ada Admin")
    )
    await staff_in_group(company_id, "olive@example.com", "Auditors")
    page = await admin_client.get(LOG)
    added = next(r for r in log_rows(page.text) if r["what"].startswith("Added the client"))
    assert added["link"] == f"/admin/clients/{client_id}"
    async with another_browser() as auditor:
        await login_staff(auditor, "olive@example.com", OTHER_PASSWORD)
        page = await auditor.get(LOG)
        assert page.status_code == 200
        added = next(r for r in log_rows(page.text) if r["what"].startswith("Added the client"))
        assert added["link"] is None
        assert f"/admin/clients/{client_id}" not in page.text


async def test_a_deleted_clients_lines_go_and_its_deletion_links_nowhere(
    admin_client, staff, company_id
):
    from portal.clients.lifecycle import delete_client

    client_id = await make_client(company_id)
    code = (await Client.select(Client.code).where(Client.id == client_id).first())["code"]
    await delete_client(
        company_id,
        client_id,
        staff_id=staff["id"],
        password=STAFF_PASSWORD,
        actor=staff_actor(staff["id"], "Ada Admin"),
    )
    rows = log_rows((await admin_client.get(LOG)).text)
    assert [r["what"] for r in rows if code in r["what"]] == [f"Deleted the client {code}."]
    assert all(r["link"] is None for r in rows)


# --- filters ---------------------------------------------------------------------------------


@pytest.fixture
async def varied_log(staff, company_id, second_company) -> dict:
    """Lines of two staff members, two clients, several kinds and days, in this company; and
    lines of another company that must never show."""
    sam = await staff_in_group(company_id, "sam@example.com", "Support")
    ada, sam_ = staff_actor(staff["id"], "Ada Admin"), staff_actor(sam, "Sam Tester")
    first, second = await make_client(company_id), await make_client(company_id)
    other_client = await make_client(second_company)
    other_staff = await staff_in_group(second_company, "otto@example.com", "Administrators")
    today = datetime.now(UTC).date()
    plan = [
        # (actor, kind, client, days ago)
        (ada, "clients", first, 40),
        (ada, "clients", second, 20),
        (sam_, "clients", first, 10),
        (ada, "settings", None, 10),
        (sam_, "login", None, 5),
        (ada, "login", None, 3),
        (sam_, "login_failed", None, 2),
        (ada, "clients", first, 1),
        (sam_, "clients", second, 0),
        (ada, "staff", None, 0),
    ]
    for n, (actor, kind, client_id, days_ago) in enumerate(plan):
        await activity.record(company_id, actor, kind, f"Line {n}.", client_id=client_id)
        line = (
            await ActivityEvent.select(ActivityEvent.id)
            .order_by(ActivityEvent.id, ascending=False)
            .first()
        )
        at = datetime.combine(today - timedelta(days=days_ago), datetime.min.time(), UTC)
        await ActivityEvent.update({ActivityEvent.at: at + timedelta(hours=12)}).where(
            ActivityEvent.id == line["id"]
        )
    await activity.record(
        second_company,
        staff_actor(other_staff, "Otto Tester"),
        "clients",
        "Line of another company.",
        client_id=other_client,
    )
    codes = {
        row["id"]: row["code"]
        for row in await Client.select(Client.id, Client.code).where(
            Client.id.is_in([first, second, other_client])
        )
    }
    return {
        "ada": staff["id"],
        "sam": sam,
        "first": first,
        "second": second,
        "codes": codes,
        "other_client": other_client,
        "other_staff": other_staff,
        "today": today,
    }


async def _expected(company_id: int, **where) -> list[str]:
    """The summaries the filter should list, read straight from the table, newest first."""
    rows = (
        await ActivityEvent.select()
        .where(ActivityEvent.company == company_id)
        .order_by(ActivityEvent.at, ActivityEvent.id, ascending=False)
    )
    picked = []
    for row in rows:
        day = row["at"].astimezone(UTC).date()
        if any(
            (
                "staff_id" in where and row["staff_id"] != where["staff_id"],
                "client_id" in where and row["client_id"] != where["client_id"],
                "kind" in where and row["kind"] != where["kind"],
                "since" in where and day < where["since"],
                "until" in where and day > where["until"],
            )
        ):
            continue
        picked.append(row["summary"])
    return picked


async def test_each_filter_and_every_combination_narrows_the_log(
    admin_client, company_id, varied_log
):
    log = varied_log
    today = log["today"]
    choices = {
        "staff": [None, ("staff_id", log["sam"], str(log["sam"]))],
        "client": [None, ("client_id", log["first"], log["codes"][log["first"]])],
        "kind": [None, ("kind", "clients", "clients"), ("kind", "login", "login")],
        "dates": [
            None,
            ("since", today - timedelta(days=10), None),
            ("until", today - timedelta(days=2), None),
            ("range", (today - timedelta(days=20), today - timedelta(days=1)), None),
        ],
    }
    tried = 0
    for staff_c, client_c, kind_c, dates_c in itertools.product(*choices.values()):
        params, where = {}, {}
        for name, choice in (("staff", staff_c), ("client", client_c), ("kind", kind_c)):
            if choice:
                where[choice[0]] = choice[1]
                params[name] = choice[2]
        if dates_c:
            if dates_c[0] == "range":
                where["since"], where["until"] = dates_c[1]
            else:
                where[dates_c[0]] = dates_c[1]
            if "since" in where:
                params["from"] = where["since"].isoformat()
            if "until" in where:
                params["to"] = where["until"].isoformat()
        page = await admin_client.get(LOG, params=params)
        assert page.status_code == 200, (params, page.text[:500])
        shown = [row["what"] for row in log_rows(page.text)]
        assert shown == await _expected(company_id, **where), params
        assert "Line of another company." not in page.text
        tried += 1
    assert tried == 2 * 2 * 3 * 4
    # A filter that matches nothing says so.
    page = await admin_client.get(LOG, params={"staff": str(log["sam"]), "kind": "settings"})
    assert log_rows(page.text) == [] and "No activity matches the filters." in page.text


async def test_the_staff_filter_lists_the_companys_staff_by_name(admin_client, varied_log):
    page = await admin_client.get(LOG)
    assert f'<option value="{varied_log["ada"]}">Ada Admin</option>' in page.text
    assert f'<option value="{varied_log["sam"]}">Sam Tester</option>' in page.text
    assert "Otto Tester" not in page.text  # another company's staff member


async def test_htmx_gets_the_region_alone_and_the_page_includes_the_same_region(
    admin_client, varied_log
):
    params = {"kind": "login"}
    whole = await admin_client.get(LOG, params=params)
    region = await admin_client.get(
        LOG, params=params, headers={"HX-Request": "true", "HX-Target": "activity-log"}
    )
    assert region.status_code == 200
    # The address bar gets the view's address, without the form's empty fields.
    assert region.headers["hx-push-url"] == "/admin/tools/activity?kind=login"
    assert "<html" not in region.text and region.text.lstrip().startswith('<div id="activity-log"')
    assert region.text.strip() in whole.text
    # Sam's sign-in, Ada's, and Ada's own of this test.
    assert log_rows(region.text) == log_rows(whole.text) and len(log_rows(region.text)) == 3
    # The filter is a plain GET form, so it works without JavaScript too.
    assert 'method="get" action="/admin/tools/activity"' in whole.text


# --- pages -----------------------------------------------------------------------------------


async def test_pages_of_fifty_newest_first_keep_the_filter(admin_client, staff, company_id):
    ada = staff_actor(staff["id"], "Ada Admin")
    for n in range(120):
        await activity.record(company_id, ada, "settings", f"Setting change {n}.")
    params = {"kind": "settings"}
    first = await admin_client.get(LOG, params=params)
    rows = log_rows(first.text)
    assert [r["what"] for r in rows] == [f"Setting change {n}." for n in range(119, 69, -1)]
    assert "Showing 1–50 of 120 lines." in first.text
    assert "Page 1 of 3" in first.text
    assert 'href="/admin/tools/activity?kind=settings&amp;page=2" rel="next"' in first.text
    last = await admin_client.get(LOG, params={**params, "page": "3"})
    assert [r["what"] for r in log_rows(last.text)] == [
        f"Setting change {n}." for n in range(19, -1, -1)
    ]
    assert 'href="/admin/tools/activity?kind=settings&amp;page=2" rel="prev"' in last.text
    # Out-of-range and unreadable page numbers are brought into range, never an error.
    for page_number in ("99", "0", "abc", "9" * 30):
        response = await admin_client.get(LOG, params={**params, "page": page_number})
        assert response.status_code == 200
        assert log_rows(response.text), page_number


async def test_a_filter_lists_at_most_the_newest_lines_it_may_count(
    admin_client, staff, company_id, monkeypatch
):
    monkeypatch.setattr(activity, "MAX_LISTED", 60)
    ada = staff_actor(staff["id"], "Ada Admin")
    for n in range(75):
        await activity.record(company_id, ada, "settings", f"Setting change {n}.")
    page = await admin_client.get(LOG, params={"kind": "settings", "page": "2"})
    assert "More than 60 lines match; the newest 60 are listed" in page.text
    assert "Page 2 of 2" in page.text
    assert [r["what"] for r in log_rows(page.text)][-1] == "Setting change 15."


# --- bad filter values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-02-30"}, "from", "From: enter a date like 2026-01-31."),
        ({"to": "yesterday"}, "to", "To: enter a date like 2026-01-31."),
        ({"from": "0001-01-01"}, "from", "From: enter a date like 2026-01-31."),
        ({"to": "99999-01-01"}, "to", "To: enter a date like 2026-01-31."),
        (
            {"from": "2026-03-02", "to": "2026-03-01"},
            "to",
            "To: choose a date on or after the From date.",
        ),
        ({"kind": "login_failedX"}, "kind", "Kind: choose a kind from the list."),
        ({"staff": "abc"}, "staff", "Staff member: choose a staff member from the list."),
        ({"staff": "99999999999"}, "staff", "Staff member: choose a staff member from the list."),
        ({"client": "no-such-client"}, "client", "Client ID: this company has no client"),
        ({"client": "x" * 5000}, "client", "Client ID: this company has no client"),
    ],
)
async def test_a_bad_filter_value_gets_its_message_beside_the_field(
    admin_client, params, field, message
):
    page = await admin_client.get(LOG, params=params)
    assert page.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in page.text
    assert 'aria-invalid="true"' in page.text
    assert log_rows(page.text) == [] and "Correct the filters to see the log." in page.text
    # What was typed stays in the form (bounded in length).
    typed = params[field][: activity.MAX_TYPED]
    if field in ("from", "to", "client"):
        assert f'value="{typed}"' in page.text
    # The same through htmx: the region with its messages, swapped in place.
    region = await admin_client.get(
        LOG, params=params, headers={"HX-Request": "true", "HX-Target": "activity-log"}
    )
    assert region.status_code == 422 and "<html" not in region.text
    assert f'id="{field}-error"' in region.text


async def test_another_companys_staff_member_and_client_cannot_be_chosen(admin_client, varied_log):
    other_code = varied_log["codes"][varied_log["other_client"]]
    page = await admin_client.get(LOG, params={"staff": str(varied_log["other_staff"])})
    assert page.status_code == 422 and 'id="staff-error"' in page.text
    # The other company's client has the same client ID as one of ours; ours is the one found.
    ours = next(
        client_id
        for client_id, code in varied_log["codes"].items()
        if code == other_code and client_id != varied_log["other_client"]
    )
    page = await admin_client.get(LOG, params={"client": other_code})
    assert page.status_code == 200
    assert "Line of another company." not in page.text
    assert {r["link"] for r in log_rows(page.text)} == {f"/admin/clients/{ours}"}


# --- who may read it ---------------------------------------------------------------------------


async def test_a_member_without_activity_read_is_refused(admin_client, company_id):
    await staff_in_group(company_id, "sam@example.com", "Support")
    async with another_browser() as support:
        await login_staff(support, "sam@example.com", OTHER_PASSWORD)
        home = await support.get("/admin")
        assert "Activity Log" not in home.text
        refused = await support.get(LOG)
        assert refused.status_code == 403
        assert "Read the activity log" in refused.text
        assert "Signed in." not in refused.text


async def test_another_companys_lines_never_show(admin_client, staff, second_company):
    other = await staff_in_group(second_company, "otto@example.com", "Administrators")
    await activity.record(second_company, staff_actor(other, "Otto Tester"), "settings", "Secret.")
    async with another_browser() as otto:
        await login_staff(otto, "otto@example.com", OTHER_PASSWORD)
        assert "Secret." in (await otto.get(LOG)).text
    page = await admin_client.get(LOG)
    assert "Secret." not in page.text and "Otto Tester" not in page.text
    assert [r["what"] for r in log_rows(page.text)] == ["Signed in."]
