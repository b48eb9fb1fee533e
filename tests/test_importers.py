"""Moving in from other systems: a FOSSBilling database (a real MariaDB database made from
FOSSBilling's schema, tests/fixtures/fossbilling_schema.sql) through `portal import
fossbilling` as a real process, and WHMCS's and Blesta's client CSV exports through
[Clients] > Import, on the run's database. MariaDB must be reachable at 127.0.0.1:3306 (root,
no password): without it the FOSSBilling tests fail, they are never skipped."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from test_import import SELECTED, SELECTS, primary_contacts, run, uploaded

from clients_helpers import post_add_client
from conftest import PROJECT_DIR
from portal.client_groups.tables import ClientGroup, CustomField
from portal.clients.tables import (
    AccountUser,
    Client,
    ClientNote,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
SCHEMA = PROJECT_DIR / "tests" / "fixtures" / "fossbilling_schema.sql"
CLIENTS = 300
FIRST_ID = 2001
# FOSSBilling's groups: two the portal lacks, and one it has (its default group).
GROUPS = {1: "Resellers", 2: "VIP", 3: "General"}
# (country, state, city, postcode, calling code, number)
PLACES = [
    ("DE", "Berlin", "Berlin", "10115", "49", "30 1234567"),
    ("US", "California", "San Francisco", "94105", "1", "415 555 0132"),
    ("GB", "", "London", "SW1A 1AA", "44", "20 7946 0958"),
    ("FR", "", "Paris", "75001", "33", "1 42 68 53 00"),
]
UNKNOWN_COUNTRY, TAKEN_EMAIL, DANGLING_GROUP, NO_FIRST_NAME = 5, 6, 9, 10
EXISTING_EMAIL = "grace@example.com"  # the portal's client (tests/clients_helpers.VALID_FORM)


def fossbilling_group(n: int) -> int | None:
    if n == DANGLING_GROUP:
        return 99  # a group FOSSBilling deleted: the client goes to the default group
    if n % 3 == 0:
        return 1
    if n % 5 == 0:
        return 2
    return 3 if n % 7 == 0 else None


def fossbilling_client(n: int) -> dict:
    country, state, city, postcode, calling_code, number = PLACES[n % len(PLACES)]
    return {
        "id": FIRST_ID + n,
        "client_group_id": fossbilling_group(n),
        "email": EXISTING_EMAIL if n == TAKEN_EMAIL else f"client{n}@example.com",
        "pass": "$2y$10$notimportednotimportednotimportednotimportednotimpo",
        "status": {1: "suspended", 2: "canceled"}.get(n % 10, "active"),
        "email_approved": n % 2,
        "tax_exempt": int(n % 9 == 0),
        "first_name": None if n == NO_FIRST_NAME else "Ada",
        "last_name": f"Client{n}",
        "phone_cc": calling_code,
        "phone": number,
        "company": f"Company {n}" if n % 2 else None,
        "company_vat": f"VAT{n:05d}" if n % 3 == 0 else None,
        "address_1": f"{n} Main Street",
        "city": city,
        "state": state,
        "postcode": postcode,
        "country": "XX" if n == UNKNOWN_COUNTRY else country,
        "notes": f"Prefers phone calls ({n})." if n % 4 == 0 else None,
        "currency": "USD",
        "lang": "en_US",
        "custom_1": f"Office {n}" if n % 2 == 0 else None,
        "custom_2": "",  # empty everywhere: no field for it
        "custom_3": "x" * 300 if fossbilling_group(n) == 2 and n % 10 == 0 else None,
        "created_at": "2021-03-04 05:06:07",
    }


def row_of(n: int) -> int:
    """The row of client n in the import's file (the header is row 1), as problems name it."""
    return n + 2


@contextlib.contextmanager
def mariadb_database(schema: bool = True) -> Iterator[tuple[str, Any]]:
    """A MariaDB database of its own (made from FOSSBilling's schema unless told otherwise)
    and a cursor in it; dropped afterwards."""
    name = f"portal_fossbilling_{uuid.uuid4().hex[:12]}"
    server = pymysql.connect(**MARIADB, autocommit=True)
    try:
        with server.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            cursor.execute(f"USE {name}")
            statements = re.sub(r"--[^\n]*", "", SCHEMA.read_text()).split(";") if schema else []
            for statement in statements:
                if statement.strip():
                    cursor.execute(statement)
            yield name, cursor
    finally:
        with server.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        server.close()


@pytest.fixture
def fossbilling_database() -> Iterator[str]:
    """A FOSSBilling database with its groups and CLIENTS clients."""
    with mariadb_database() as (name, cursor):
        cursor.executemany(
            "INSERT INTO client_group (id, title) VALUES (%s, %s)", list(GROUPS.items())
        )
        rows = [fossbilling_client(n) for n in range(CLIENTS)]
        columns = list(rows[0])
        cursor.executemany(
            f"INSERT INTO client ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})",
            [[row[column] for column in columns] for row in rows],
        )
        yield name


def portal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=PROJECT_DIR,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def client_by_code(code: str) -> dict:
    row = (
        await Client.select(Client.all_columns(), Client.group.name)
        .where(Client.code == code)
        .first()
    )
    assert row is not None, code
    return row


async def custom_value(client_id: int, label: str) -> str | None:
    row = (
        await CustomFieldValue.select(CustomFieldValue.value)
        .where(CustomFieldValue.client == client_id, CustomFieldValue.field.label == label)
        .first()
    )
    return row["value"] if row else None


async def test_a_fossbilling_database_imports_with_a_report(admin_client, fossbilling_database):
    response = await post_add_client(admin_client, email=EXISTING_EMAIL)
    assert response.status_code == 303
    url = f"mysql://root@127.0.0.1:3306/{fossbilling_database}"

    result = portal("import", "fossbilling", "--database", url, "--dry-run")
    assert result.returncode == 0, result.stderr
    would = f"{CLIENTS - 3} rows would add a client, 0 would update one, 1 would be skipped"
    assert f"{would}, and 2 have problems" in result.stdout
    assert "Client groups would be created: Resellers, VIP" in result.stdout
    assert "Nothing was saved" in result.stdout
    assert await Client.count() == 1 and await ClientGroup.count() == 1

    result = portal("import", "fossbilling", "--database", url)
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert (
        f"From FOSSBilling database {fossbilling_database}: {CLIENTS - 3} clients added" in report
    )
    assert "1 rows skipped (their client exists), 2 rows left out for their problems" in report
    assert "Client groups created: Resellers, VIP; 4 custom fields created" in report
    assert f"{CLIENTS // 4} notes added" in report
    assert "Not imported from FOSSBilling: passwords" in report
    assert f'row {row_of(UNKNOWN_COUNTRY)}, Country: "XX" is not a country.' in result.stderr
    assert f"row {row_of(NO_FIRST_NAME)}, First Name: First Name is required." in result.stderr

    # Clients with their IDs kept, groups, statuses, notes, custom values.
    codes = {row["code"] for row in await Client.select(Client.code)}
    left_out = {UNKNOWN_COUNTRY, TAKEN_EMAIL, NO_FIRST_NAME}
    assert codes - {"1500"} == {str(FIRST_ID + n) for n in range(CLIENTS) if n not in left_out}
    groups = {row["name"] for row in await ClientGroup.select(ClientGroup.name)}
    assert groups == {"General", "Resellers", "VIP"}
    assert (await client_by_code(str(FIRST_ID + 3)))["group.name"] == "Resellers"
    assert (await client_by_code(str(FIRST_ID + 20)))["group.name"] == "VIP"
    assert (await client_by_code(str(FIRST_ID + DANGLING_GROUP)))["group.name"] == "General"
    statuses = {n: (await client_by_code(str(FIRST_ID + n)))["status"] for n in (1, 2, 3)}
    assert statuses == {1: "inactive", 2: "inactive", 3: "active"}
    four = await client_by_code(str(FIRST_ID + 4))
    notes = await ClientNote.select().where(ClientNote.client == four["id"])
    assert [(n["title"], n["body"]) for n in notes] == [
        ("Notes from FOSSBilling", "Prefers phone calls (4).")
    ]
    assert await ClientNote.count() == CLIENTS // 4
    assert await custom_value(four["id"], "Custom 1") == "Office 4"
    fields = await CustomField.select(
        CustomField.label, CustomField.field_type, CustomField.group.name
    )
    assert sorted((f["group.name"], f["label"], f["field_type"]) for f in fields) == [
        ("General", "Custom 1", "textbox"),
        ("Resellers", "Custom 1", "textbox"),
        ("VIP", "Custom 1", "textbox"),
        ("VIP", "Custom 3", "textarea"),
    ]
    twenty = await client_by_code(str(FIRST_ID + 20))
    assert await custom_value(twenty["id"], "Custom 3") == "x" * 300
    # The contact's details, a phone number from FOSSBilling's two columns, a state by name.
    contact = (
        await Contact.select()
        .where(Contact.client == (await client_by_code(str(FIRST_ID + 1)))["id"])
        .first()
    )
    assert (contact["email"], contact["country"], contact["state"], contact["company"]) == (
        "client1@example.com",
        "US",
        "US-CA",
        "Company 1",
    )
    number = (
        await ContactNumber.select(ContactNumber.number)
        .where(ContactNumber.contact == contact["id"])
        .first()
    )
    assert number["number"] == "+14155550132"
    # Verified addresses stay verified; no password and no consent comes along.
    users = {
        row["email"]: row
        for row in await AccountUser.select(
            AccountUser.email, AccountUser.email_verified_at, AccountUser.password_hash
        )
    }
    assert users["client3@example.com"]["email_verified_at"] is not None
    assert users["client4@example.com"]["email_verified_at"] is None
    assert all(
        user["password_hash"] is None for email, user in users.items() if email != EXISTING_EMAIL
    )
    assert await ConsentEvent.count().where(ConsentEvent.source == "import") == 0
    # The profile's history tells where the client came from; its notes show the note.
    profile = f"/admin/clients/{four['id']}/widgets"
    history = (await admin_client.get(f"{profile}/history")).text
    assert f"imported from FOSSBilling database {fossbilling_database}" in history
    assert "Prefers phone calls (4)." in (await admin_client.get(f"{profile}/notes")).text
    # The job is listed with the imports and its page shows the report.
    imports_page = await admin_client.get("/admin/clients/import")
    job = re.search(
        r'<a href="(/admin/jobs/\d+)">Import from the FOSSBilling database', imports_page.text
    )
    assert job, imports_page.text
    assert "Client groups created: Resellers, VIP" in (await admin_client.get(job.group(1))).text

    # Importing the same database again adds nothing.
    counts = (await Client.count(), await ClientNote.count(), await CustomField.count())
    result = portal("import", "fossbilling", "--database", url)
    assert result.returncode == 0, result.stderr
    assert "0 clients added, 0 updated, 298 rows skipped" in result.stdout
    assert "0 notes added" in result.stdout and "Client groups created" not in result.stdout
    assert (await Client.count(), await ClientNote.count(), await CustomField.count()) == counts
    assert await ClientGroup.count() == 3


async def test_a_database_that_cannot_be_read_is_named_with_the_reason(company_id):
    result = portal("import", "fossbilling", "--database", "postgresql://x@127.0.0.1/x")
    assert result.returncode == 2
    assert "Give the database as mysql://user:password@host:port/name." in result.stderr
    result = portal(
        "import", "fossbilling", "--database", "mysql://root:secret-word@127.0.0.1:1/fb"
    )
    assert result.returncode == 2
    assert "Cannot open the FOSSBilling database fb at 127.0.0.1:1" in result.stderr
    assert "secret-word" not in result.stderr
    with mariadb_database(schema=False) as (name, _):
        result = portal("import", "fossbilling", "--database", f"mysql://root@127.0.0.1/{name}")
    assert result.returncode == 2
    assert f"The database {name} cannot be read as FOSSBilling's" in result.stderr
    with mariadb_database() as (name, _):
        result = portal("import", "fossbilling", "--database", f"mysql://root@127.0.0.1/{name}")
    assert result.returncode == 2
    assert f"The FOSSBilling database {name} has no clients." in result.stderr
    assert await Client.count() == 0


# --- client exports of WHMCS and Blesta, through [Clients] > Import ----------------------------

# WHMCS's Clients report (Reports > Clients, every field ticked) exported as CSV: its headers
# as the report names them, its phone numbers as WHMCS stores them (+code.number), the
# currency's code, the group's WHMCS ID, and its statuses.
WHMCS_EXPORT = (
    "ID,First Name,Last Name,Company Name,Email,Address 1,Address 2,City,State,Postcode,"
    "Country,Phone Number,Currency,Client Group ID,Credit,Creation Date,Notes,Status\n"
    "1,Ada,Lovelace,Analytical Ltd,ada@example.com,12 St James's Square,,London,,SW1Y 4JH,"
    "GB,+44.2079460958,USD,0,0.00,2019-03-04,Pays on time,Active\n"
    '7,Grace,Hopper,,grace@example.org,"1 Compiler Way, Suite 2",,Arlington,Virginia,22201,'
    "US,+1.7035550123,USD,2,10.00,2020-01-01,,Closed\n"
    "12,Alan,Turing,,alan@example.com,Bletchley Park,,Milton Keynes,,MK3 6EB,GB,,USD,0,0.00,"
    "2021-06-23,,Inactive\n"
)
# Blesta's CSV import format (its Import Manager's CSV migrator documents these headers).
BLESTA_EXPORT = (
    "username,first_name,last_name,email,address,city,state_code,postal_code,country_code,"
    "phone,company\n"
    "jmiller,John,Miller,j.miller@example.com,123 Elm St.,Orange,CA,92806,US,7145550123,"
    "Miller Corp\n"
    "lmoran,Liz,Moran,liz@example.com,672 Claremont Pl,Anaheim,CA,92805,US,,\n"
)


def mapped(page: str) -> dict[str, str]:
    """{column header: the field it is mapped to} on the mapping page."""
    headers = re.findall(r'<th scope="row">([^<]*)</th>', page)
    targets = []
    for _, options in SELECTS.findall(page):
        chosen = SELECTED.search(options)
        targets.append(chosen.group(1) if chosen else "")
    return dict(zip(headers, targets, strict=True))


async def test_a_whmcs_client_export_maps_itself_and_imports(admin_client):
    file_id = await uploaded(admin_client, WHMCS_EXPORT.encode(), "whmcs-clients.csv")
    page = await admin_client.get(f"/admin/clients/import/{file_id}")
    assert "Looks like a WHMCS client export" in page.text
    assert mapped(page.text) == {
        "ID": "client_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company Name": "company",
        "Email": "email",
        "Address 1": "address1",
        "Address 2": "address2",
        "City": "city",
        "State": "state",
        "Postcode": "zip",
        "Country": "country",
        "Phone Number": "phone",
        "Currency": "preferred_currency",
        "Client Group ID": "",  # WHMCS's group IDs are not the portal's
        "Credit": "",
        "Creation Date": "",
        "Notes": "",
        "Status": "status",
    }
    _, job_page = await run(admin_client, file_id)
    assert "3 clients added" in job_page.text, job_page.text
    clients = {row["code"]: row for row in await Client.select(Client.code, Client.status)}
    assert {code: row["status"] for code, row in clients.items()} == {
        "1": "active",
        "7": "inactive",
        "12": "inactive",
    }
    grace = next(c for c in await primary_contacts() if c["first_name"] == "Grace")
    assert (grace["state"], grace["address1"]) == ("US-VA", "1 Compiler Way, Suite 2")
    numbers = sorted(n["number"] for n in await ContactNumber.select(ContactNumber.number))
    assert numbers == ["+17035550123", "+442079460958"]


async def test_a_blesta_client_export_maps_itself_and_imports(admin_client):
    file_id = await uploaded(admin_client, BLESTA_EXPORT.encode(), "blesta-clients.csv")
    page = await admin_client.get(f"/admin/clients/import/{file_id}")
    assert "Looks like a Blesta client export" in page.text
    assert set(mapped(page.text).values()) == {
        "username",
        "first_name",
        "last_name",
        "email",
        "address1",
        "city",
        "state",
        "zip",
        "country",
        "phone",
        "company",
    }
    _, job_page = await run(admin_client, file_id)
    assert "2 clients added" in job_page.text, job_page.text
    usernames = {row["username"] for row in await AccountUser.select(AccountUser.username)}
    assert usernames == {"jmiller", "lmoran"}
    john = next(c for c in await primary_contacts() if c["first_name"] == "John")
    assert (john["state"], john["zip"], john["company"]) == ("US-CA", "92806", "Miller Corp")


async def test_a_plain_file_names_no_system(admin_client):
    content = (
        b"First Name,Last Name,Email,Country,Company Name,Phone Number\nAda,L,a@example.com,GB,,\n"
    )
    file_id = await uploaded(admin_client, content)
    page = await admin_client.get(f"/admin/clients/import/{file_id}")
    assert "Looks like a" not in page.text
