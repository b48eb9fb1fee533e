"""[Clients] > Import and `portal import clients`: files as people have them (encodings,
delimiters, spreadsheets' quirks, mistakes), through the real app and the real job code, on
the run's database."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from import_files import clients_csv

from clients_helpers import post_add_client
from conftest import PROJECT_DIR, STAFF_PASSWORD, create_app, csrf_from, login_staff
from portal.client_groups import services as groups
from portal.clients.tables import (
    AccountUser,
    Client,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)
from portal.core.actors import SYSTEM
from portal.imports import reading
from portal.imports import services as imports
from portal.jobs import services as jobs
from portal.jobs.tables import Job
from portal.staff import services as staff_services

PLAIN = (
    "First Name,Last Name,Email,Country,State/Province,Phone,Company/Org.,"
    "Opt-in to marketing emails\n"
    "Ada,Lovelace,ada@example.com,GB,,+44 20 7946 0958,Analytical Ltd,yes\n"
    "Bob,Müller,bob@example.de,Germany,Bayern,030 1234567,\"=cmd|' /C calc'!A0\",no\n"
)


SELECTS = re.compile(r'<select id="(map-\d+)"[^>]*>(.*?)</select>', re.S)
SELECTED = re.compile(r'<option value="([^"]*)" selected>')


async def upload(client: httpx.AsyncClient, content: bytes, name: str = "clients.csv"):
    page = await client.get("/admin/clients/import")
    assert page.status_code == 200
    return await client.post(
        "/admin/clients/import",
        data={"_csrf_token": csrf_from(page.text)},
        files={"file": (name, content, "text/csv")},
    )


async def uploaded(client: httpx.AsyncClient, content: bytes, name: str = "clients.csv") -> int:
    response = await upload(client, content, name)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


async def start(client: httpx.AsyncClient, file_id: int, action: str = "import", **choices):
    page = await client.get(f"/admin/clients/import/{file_id}")
    assert page.status_code == 200
    data = {"_csrf_token": csrf_from(page.text), "action": action, "on_duplicate": "skip"}
    for name, options in SELECTS.findall(page.text):
        chosen = SELECTED.search(options)
        data[name] = chosen.group(1) if chosen else ""
    data.update(choices)
    return await client.post(f"/admin/clients/import/{file_id}", data=data)


async def run(client: httpx.AsyncClient, file_id: int, action: str = "import", **choices):
    """Starts the import as the page does, runs its job as the server's runner would, and
    returns the job's page."""
    response = await start(client, file_id, action, **choices)
    assert response.status_code == 303, response.text
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    await jobs.run_job(job_id)
    page = await client.get(f"/admin/jobs/{job_id}")
    assert page.status_code == 200
    return job_id, page


async def primary_contacts() -> list[dict]:
    return await Contact.select().where(Contact.contact_type == "primary").order_by(Contact.email)


async def test_a_plain_file_maps_itself_and_imports_whole_rows(admin_client):
    file_id = await uploaded(admin_client, PLAIN.encode())
    page = await admin_client.get(f"/admin/clients/import/{file_id}")
    assert "UTF-8" in page.text and "comma" in page.text
    assert '<option value="first_name" selected>' in page.text
    assert '<option value="marketing_opt_in" selected>' in page.text
    job_id, job_page = await run(admin_client, file_id)
    assert "2 clients added" in job_page.text
    contacts = await primary_contacts()
    assert [c["email"] for c in contacts] == ["ada@example.com", "bob@example.de"]
    bob = contacts[1]
    assert (bob["country"], bob["state"], bob["company"]) == ("DE", "DE-BY", "=cmd|' /C calc'!A0")
    numbers = await ContactNumber.select(ContactNumber.number).order_by(ContactNumber.number)
    assert [n["number"] for n in numbers] == ["+442079460958", "+49301234567"]
    users = await AccountUser.select(AccountUser.username, AccountUser.password_hash)
    assert all(user["password_hash"] is None for user in users)  # no password is imported
    consent = await ConsentEvent.select()
    assert len(consent) == 1 and consent[0]["source"] == "import"
    assert "clients.csv" in consent[0]["wording"]
    # Browse and search see them at once (the counts are checked after every test).
    browse = await admin_client.get("/admin/clients?country=DE")
    assert "bob@example.de" in browse.text and "ada@example.com" not in browse.text
    found = await admin_client.get("/admin/clients/search", params={"q": "Lovelace"})
    assert "ada@example.com" in found.text
    profile = await admin_client.get(f"/admin/clients/{contacts[0]['client']}")
    assert "imported from clients.csv" in profile.text


async def test_a_dry_run_lists_every_problem_and_saves_nothing(admin_client):
    content = (
        PLAIN + "Cy,Twice,ada@example.com,US,CA,,,\n"
        "Di,Bad,not-an-email,Narnia,,,,maybe\n"
        "Ed,Ward,ed@example.com,US,Atlantis,,,\n"
        "Fay,Short,fay@example.com\n"
    )
    file_id = await uploaded(admin_client, content.encode())
    job_id, page = await run(admin_client, file_id, "dry-run")
    assert "Nothing was saved" in page.text
    assert await Client.count() == 0
    problems = {(p.row, p.column, p.message) for p in await jobs.problems(job_id, 100)}
    assert (4, "Email", "Row 2 has the same email; this row is left out.") in problems
    assert (5, "Country", '"Narnia" is not a country.') in problems
    assert (5, "Email", "Enter a valid email address, like name@example.com.") in problems
    assert (5, "Opt-in to marketing emails", 'Write Yes or No, not "maybe".') in problems
    assert (6, "State/Province", '"Atlantis" is not a state or province of US.') in problems
    assert (7, "", "This row has 3 cells; the header has 8.") in problems
    download = await admin_client.get(f"/admin/jobs/{job_id}/problems.csv")
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["Row", "Column", "Message"]
    assert ["5", "Country", '"Narnia" is not a country.'] in rows
    job = await Job.select().where(Job.id == job_id).first()
    assert (job["status"], job["done"], job["failed"]) == ("done", 2, 4)


async def test_importing_the_same_file_again_adds_nothing_and_can_update(admin_client):
    file_id = await uploaded(admin_client, PLAIN.encode())
    await run(admin_client, file_id)
    _, page = await run(admin_client, file_id)
    assert "0 clients added, 0 updated, 2 rows skipped" in page.text
    assert await Client.count() == 2
    changed = PLAIN.replace("Analytical Ltd", "Engines plc")
    file_id = await uploaded(admin_client, changed.encode())
    _, page = await run(admin_client, file_id, on_duplicate="update")
    assert "0 clients added, 2 updated" in page.text
    assert await Client.count() == 2
    ada = (await primary_contacts())[0]
    assert ada["company"] == "Engines plc"
    # "Add a new client anyway" cannot take an email that is someone's username.
    _, page = await run(admin_client, file_id, on_duplicate="create")
    assert "0 clients added" in page.text and "2 rows left out" in page.text
    assert await Client.count() == 2


@pytest.mark.parametrize(
    ("encoding", "delimiter", "label"),
    [
        ("utf-8-sig", ";", "UTF-8 (with BOM)"),
        ("cp1252", ",", "Windows-1252"),
        ("utf-16", "\t", "UTF-16"),
    ],
)
async def test_encodings_and_delimiters_are_detected(admin_client, encoding, delimiter, label):
    content = PLAIN.replace(",", delimiter).replace("\"=cmd|' /C calc'!A0\"", "Müller & Söhne")
    file_id = await uploaded(admin_client, content.encode(encoding))
    page = await admin_client.get(f"/admin/clients/import/{file_id}")
    assert label in page.text
    await run(admin_client, file_id)
    bob = (await primary_contacts())[1]
    assert (bob["last_name"], bob["company"]) == ("Müller", "Müller & Söhne")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is not a CSV file"),
        (b"First Name,Last Name,Email,Country\n", "The file has a header but no rows"),
        (b"\n\nAda,Lovelace\n", "The file&#39;s first line is empty"),
        (("x," * 300 + "\n1\n").encode(), "The file has 301 columns"),
    ],
)
async def test_files_that_cannot_be_imported_are_refused_with_a_message(
    admin_client, content, message
):
    response = await upload(admin_client, content)
    assert response.status_code == 422
    assert message in response.text


async def test_a_choice_of_no_file_or_a_bad_mapping_is_refused(admin_client):
    page = await admin_client.get("/admin/clients/import")
    response = await admin_client.post(
        "/admin/clients/import", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422 and "Choose a CSV file" in response.text
    file_id = await uploaded(admin_client, PLAIN.encode())
    response = await start(admin_client, file_id, **{"map-2": "", "map-3": "nonsense"})
    assert response.status_code == 422
    assert "Map a column to each of: Email, Country." in response.text
    assert "Choose a field from the list." in response.text
    response = await start(admin_client, file_id, **{"map-1": "first_name"})
    assert "First Name is already the field of another column." in response.text
    response = await start(admin_client, file_id, on_duplicate="merge")
    assert response.status_code == 422
    assert await Job.count() == 0


async def test_a_cell_past_the_limit_stops_the_file_with_its_row(admin_client, tmp_path):
    long_row = f'Cy,Long,,,,,,,cy@example.com,"{"x" * (reading.MAX_CELL_CHARS + 1)}",no\n'
    # Among the first rows, the upload itself says so.
    response = await upload(admin_client, PLAIN.encode() + long_row.encode())
    assert response.status_code == 422 and "Row 4: the file cannot be read" in response.text
    # Further down, the job finds it while counting the rows, before it writes any.
    path = clients_csv(tmp_path / "long.csv", 6)
    file_id = await uploaded(admin_client, path.read_bytes() + long_row.encode())
    job_id, page = await run(admin_client, file_id)
    job = await Job.select().where(Job.id == job_id).first()
    assert job["status"] == "failed" and "Row 8: the file cannot be read" in job["message"]
    assert "Row 8" in page.text
    assert await Client.count() == 0


async def test_a_file_of_too_many_rows_is_refused_before_any_is_written(
    admin_client, monkeypatch, tmp_path
):
    monkeypatch.setattr(reading, "MAX_ROWS", 10)
    file_id = await uploaded(admin_client, clients_csv(tmp_path / "big.csv", 11).read_bytes())
    job_id, page = await run(admin_client, file_id)
    assert "more than 10 rows; split it" in page.text
    assert await Client.count() == 0


async def test_an_upload_past_the_size_limit_gets_413_before_it_is_read(admin_client):
    page = await admin_client.get("/admin/clients/import")
    boundary = "portal-boundary"

    async def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        chunk = b"a,b,c\n" * 100_000
        for _ in range(imports.MAX_FILE_BYTES // len(chunk) + 2):
            yield chunk

    response = await admin_client.post(
        "/admin/clients/import",
        content=body(),
        headers={
            "content-type": f"multipart/form-data; boundary={boundary}",
            "x-csrftoken": csrf_from(page.text),
        },
    )
    assert response.status_code == 413
    assert await Job.count() == 0


async def test_a_job_taken_over_after_a_crash_goes_on_from_its_checkpoint(
    admin_client, tmp_path, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH_ROWS", 5)
    file_id = await uploaded(admin_client, clients_csv(tmp_path / "c.csv", 12).read_bytes())
    response = await start(admin_client, file_id)
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    # The first runner wrote one batch, then its process died (its claim went stale).
    original = imports.ImportRun._do_batch
    batches = 0

    async def dies_after_one_batch(self, batch):
        nonlocal batches
        if batches == 1:
            raise SystemExit("killed")
        batches += 1
        await original(self, batch)

    monkeypatch.setattr(imports.ImportRun, "_do_batch", dies_after_one_batch)
    with pytest.raises(SystemExit):
        await jobs.run_job(job_id)
    assert await Client.count() == 5
    monkeypatch.setattr(imports.ImportRun, "_do_batch", original)
    assert (await jobs.run_job(job_id)).status == "running"  # still claimed: left alone
    stale = datetime.now(UTC) - timedelta(seconds=jobs.LEASE_SECONDS + 1)
    await Job.update({Job.claimed_at: stale}).where(Job.id == job_id)
    view = await jobs.run_job(job_id)
    assert view.status == "done" and "12 clients added" in view.message
    assert (view.done, view.failed) == (12, 0)
    assert await Client.count() == 12
    emails = {c["email"] for c in await primary_contacts()}
    assert emails == {f"client{n}@example.com" for n in range(12)}


async def test_cancelling_keeps_what_was_done(admin_client):
    file_id = await uploaded(admin_client, PLAIN.encode())
    response = await start(admin_client, file_id)
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = await admin_client.get(f"/admin/jobs/{job_id}")
    assert "Waiting to start" in page.text
    response = await admin_client.post(
        f"/admin/jobs/{job_id}/cancel", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    assert (await jobs.run_job(job_id)).status == "cancelled"
    assert await Client.count() == 0
    page = await admin_client.get(f"/admin/jobs/{job_id}")
    assert "Cancelled by Ada Admin" in page.text


async def test_support_staff_and_other_companies_cannot_import_or_see_imports(
    admin_client, company_id, second_company
):
    file_id = await uploaded(admin_client, PLAIN.encode())
    response = await start(admin_client, file_id, "dry-run")
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    await staff_services.create_staff(
        email="sam@example.com",
        password=STAFF_PASSWORD,
        first_name="Sam",
        last_name="Support",
        company_ids=[company_id],
        group="Support",
    )
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as sam:
        await login_staff(sam, "sam@example.com", STAFF_PASSWORD)
        assert (await sam.get("/admin/clients/import")).status_code == 403
        assert (await sam.get(f"/admin/clients/import/{file_id}")).status_code == 403
        assert (await sam.get(f"/admin/jobs/{job_id}")).status_code == 403
        assert 'href="/admin/clients/import"' not in (await sam.get("/admin")).text
    # The same ids in another company are not found.
    from portal.core.actors import Actor

    other = Actor(kind="staff", id=1, name="X", permissions=None)
    with pytest.raises(imports.NotFound):
        await imports.preview(second_company, file_id, other)
    with pytest.raises(imports.NotFound):
        await jobs.get(second_company, job_id, other)


async def test_the_command_line_imports_with_a_mapping_file_and_reports_rows(tmp_path):
    content = (
        "Given,Family,Mail,Land,Newsletter\n"
        "Ada,Lovelace,ada@example.com,GB,yes\n"
        "Di,Bad,not-an-email,Narnia,no\n"
    )
    path = tmp_path / "export.csv"
    path.write_text(content)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "Given": "First Name",
                "Family": "last_name",
                "Mail": "Email",
                "Land": "Country",
                "Newsletter": "Opt-in to marketing emails",
            }
        )
    )

    def portal(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "portal", *args],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = portal("import", "clients", str(path), "--mapping", str(mapping), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "1 rows would add a client" in result.stdout
    assert 'row 3, Land: "Narnia" is not a country.' in result.stderr
    assert await Client.count() == 0
    result = portal("import", "clients", str(path), "--mapping", str(mapping))
    assert result.returncode == 0, result.stderr
    assert "1 clients added" in result.stdout
    assert [c["email"] for c in await primary_contacts()] == ["ada@example.com"]
    mapping.write_text(json.dumps({"Given": "Nickname"}))
    result = portal("import", "clients", str(path), "--mapping", str(mapping))
    assert result.returncode == 2 and 'there is no field "Nickname"' in result.stderr
    assert portal("import", "clients", str(path), "--company", "999").returncode == 2


async def test_client_ids_from_the_file_are_kept_and_new_clients_come_after_them(admin_client):
    content = (
        "ID,First Name,Last Name,Email,Country\n"
        "7,Ada,Lovelace,ada@example.com,GB\n"
        "9000,Bob,Builder,bob@example.com,GB\n"
        "9000,Cy,Twice,cy@example.com,GB\n"
        "x1,Di,Bad,di@example.com,GB\n"
    )
    file_id = await uploaded(admin_client, content.encode())
    job_id, page = await run(admin_client, file_id)
    assert "2 clients added" in page.text
    problems = {(p.row, p.column, p.message) for p in await jobs.problems(job_id, 10)}
    assert problems == {
        (4, "ID", "Row 3 has the same client ID; this row is left out."),
        (5, "ID", 'Write the client ID as a whole number, not "x1".'),
    }
    codes = {row["code"] for row in await Client.select(Client.code)}
    assert codes == {"7", "9000"}
    response = await post_add_client(admin_client, email="new@example.com")
    assert response.status_code == 303
    codes = {row["code"] for row in await Client.select(Client.code)}
    assert "9001" in codes  # the next client comes after the highest ID kept
    content = "ID,First Name,Last Name,Email,Country\n7,Eve,Other,eve@example.com,GB\n"
    file_id = await uploaded(admin_client, content.encode())
    job_id, page = await run(admin_client, file_id)
    assert [p.message for p in await jobs.problems(job_id, 10)] == ["Another client has the ID 7."]


async def test_new_clients_can_get_a_link_to_choose_their_password(admin_client, smtp_server):
    file_id = await uploaded(admin_client, PLAIN.encode())
    await run(admin_client, file_id, invite="1")
    messages = smtp_server.messages
    to = sorted(message["To"] for message in messages)
    assert to == ["ada@example.com", "bob@example.de"]
    body = messages[0].get_body(("plain",)).get_content()
    assert "Your username is" in body and "within seven days" in body
    link = re.search(r"http://\S+/client/reset/(\S+)", body)
    assert link, body
    page = await admin_client.get(f"/client/reset/{link.group(1)}")
    assert page.status_code == 200


async def test_ids_out_of_range_are_not_found_not_an_error(admin_client):
    huge = 2**63
    for path in (
        f"/admin/jobs/{huge}",
        f"/admin/jobs/{huge}/progress",
        f"/admin/clients/import/{huge}",
    ):
        assert (await admin_client.get(path)).status_code == 404


async def test_a_custom_checkbox_column_takes_the_words_of_yes_no_columns(admin_client, company_id):
    general = await groups.default_group_id(company_id)
    field_id = await groups.create_field(
        company_id, general, groups.FieldDetails(label="Key account", field_type="checkbox"), SYSTEM
    )
    content = (
        "First Name,Last Name,Email,Country,Key account\n"
        "Ada,Yes,ada@example.com,GB,yes\n"
        "Bob,No,bob@example.com,GB,No\n"
        "Cy,Maybe,cy@example.com,GB,maybe\n"
    )
    job_id, _ = await run(admin_client, await uploaded(admin_client, content.encode()))
    problems = {(p.row, p.message) for p in await jobs.problems(job_id, 100)}
    assert problems == {(4, "Key account: tick the box or leave it empty.")}
    ticked = await CustomFieldValue.select(CustomFieldValue.value).where(
        CustomFieldValue.field == field_id, CustomFieldValue.value != ""
    )
    assert ticked == [{"value": "1"}]
    assert await Client.count() == 2


async def test_a_row_meeting_another_writers_address_is_left_out_with_its_message(
    admin_client, company_id, monkeypatch
):
    """The file is checked against the addresses there are, then written; an address another
    writer gives a client in between (under a rule that addresses are unique) is refused by the
    write itself, and only that row is left out, with the form's message."""
    await groups.create_group(
        company_id,
        groups.GroupDetails(name="Unique", overrides={"unique_contact_emails": "all"}),
        SYSTEM,
    )
    await post_add_client(admin_client, email="taken@example.com")

    async def none_yet(company_id: int, emails: list[str]) -> dict:
        return {}  # the check ran before the other writer's client was there

    monkeypatch.setattr(imports, "_clients_by_email", none_yet)
    content = (
        "First Name,Last Name,Email,Country,Client Group,Username\n"
        "Ada,Late,taken@example.com,GB,Unique,ada.late\n"
        "Bob,Fine,bob@example.com,GB,Unique,bob.fine\n"
    )
    job_id, _ = await run(admin_client, await uploaded(admin_client, content.encode()))
    problems = {(p.row, p.column, p.message) for p in await jobs.problems(job_id, 100)}
    assert problems == {(2, "Email", "Another client already uses this email address.")}
    assert await Client.count() == 2  # the one added by hand and Bob
