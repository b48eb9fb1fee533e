"""The `portal` command, run as people run it: a real process on the run's database."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import PROJECT_DIR
from portal.client_groups.tables import ClientGroup
from portal.companies.tables import Company
from portal.staff.tables import Staff, StaffCompany


def portal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=PROJECT_DIR,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_company_and_staff_creation_without_prompts():
    result = portal(
        "company",
        "create",
        "--name",
        "Acme GmbH",
        "--currency",
        "EUR",
        "--country",
        "DE",
        "--language",
        "de",
    )
    assert result.returncode == 0, result.stderr
    acme = await Company.select().where(Company.name == "Acme GmbH").first()
    assert (acme["default_currency"], acme["default_country"], acme["default_language"]) == (
        "EUR",
        "DE",
        "de",
    )
    groups = await ClientGroup.select(ClientGroup.name, ClientGroup.is_default).where(
        ClientGroup.company == acme["id"]
    )
    assert groups == [{"name": "General", "is_default": True}]
    # The first run also created the default company.
    assert await Company.count() == 2

    result = portal(
        "staff",
        "create",
        "--email",
        "Boss@Example.com",
        "--password",
        "Sturdy-horse-42",
        "--first-name",
        "Bo",
        "--last-name",
        "Ss",
        "--company",
        str(acme["id"]),
    )
    assert result.returncode == 0, result.stderr
    staff = await Staff.select().where(Staff.email == "boss@example.com").first()
    assert staff["password_hash"].startswith("$argon2id$")
    assert "Sturdy-horse-42" not in result.stdout + result.stderr
    access = await StaffCompany.select(StaffCompany.company).where(
        StaffCompany.staff == staff["id"]
    )
    assert access == [{"company": acme["id"]}]


async def test_bad_input_is_refused_with_clear_messages():
    result = portal("company", "create", "--name", "X", "--currency", "EURO", "--country", "ZZ")
    assert result.returncode == 2
    assert "Unknown currency" in result.stderr and "Unknown country" in result.stderr
    result = portal("staff", "create", "--email", "bad", "--password", "short")
    assert result.returncode == 2
    assert "valid email" in result.stderr and "at least 8" in result.stderr
    result = portal(
        "staff",
        "create",
        "--email",
        "a@example.com",
        "--password",
        "Sturdy-horse-42",
        "--company",
        "999",
    )
    assert result.returncode == 2 and "No company with ID 999" in result.stderr
    assert await Staff.count() == 0


async def test_demo_loads_realistic_clients():
    from portal.clients.tables import Client, Contact, ContactNumber
    from portal.core.countries import state_belongs_to

    result = portal("demo", "--clients", "40", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert await Client.count() == 40
    assert await Contact.count().where(Contact.contact_type == "primary") == 40
    # Some clients with a company have a billing contact too.
    billing = await Contact.select().where(Contact.contact_type == "billing")
    assert billing and all(contact["company"] for contact in billing)
    assert await ContactNumber.count() >= 40
    for contact in await Contact.select(Contact.country, Contact.state):
        assert state_belongs_to(contact["state"], contact["country"])
    assert portal("demo", "--clients", "5", "--company", "999").returncode == 2


async def test_recount_repairs_counts_after_changes_made_by_hand():
    from portal.clients import browse
    from portal.clients.tables import Client, ClientCount, Contact

    assert portal("demo", "--clients", "12", "--seed", "3").returncode == 0
    company_id = (await Company.select(Company.id).first())["id"]
    # By hand, around the services: every client Fraud, one moved to another country.
    await Client.update({Client.status: "fraud"}, force=True)
    moved = (await Contact.select(Contact.client).first())["client"]
    await Contact.update({Contact.country: "JP"}).where(Contact.client == moved)
    result = portal("clients", "recount")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "12 clients counted."
    tabs = await browse.browse_clients(company_id, browse.BrowseQuery())
    assert tabs.counts == {"active": 0, "inactive": 0, "fraud": 12}
    japan = await browse.browse_clients(company_id, browse.BrowseQuery(tab="fraud", country="JP"))
    assert [row.id for row in japan.rows] == [moved]
    assert await ClientCount.count() > 0


def test_reindex_refuses_an_unknown_company():
    result = portal("search", "reindex", "--company", "999")
    assert result.returncode == 2
    assert "No company with ID 999." in result.stderr


def _portal_on(database_url: str, var_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "portal", "migrate"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_paragraph(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for word in words:
        assert word in message, message


def test_a_database_file_that_is_not_one_is_named_with_the_fix(tmp_path):
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(os.urandom(8192))
    result = _portal_on(f"sqlite:///{garbage}", tmp_path)
    _assert_one_paragraph(result, str(garbage), "not a usable SQLite database", "backup")


def test_a_truncated_database_file_is_named_with_the_fix(tmp_path):
    whole = tmp_path / "whole.sqlite3"
    assert _portal_on(f"sqlite:///{whole}", tmp_path).returncode == 0
    truncated = tmp_path / "truncated.sqlite3"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    result = _portal_on(f"sqlite:///{truncated}", tmp_path)
    _assert_one_paragraph(result, str(truncated), "not a usable SQLite database", "backup")


def test_a_read_only_folder_is_named_with_the_fix(tmp_path):
    """Root ignores permission bits: the folder is made immutable instead (chattr +i)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
    try:
        result = _portal_on(f"sqlite:///{folder}/portal.sqlite3", tmp_path)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)
    _assert_one_paragraph(result, f"{folder}/portal.sqlite3", "read-only", "PORTAL_DATABASE_URL")
