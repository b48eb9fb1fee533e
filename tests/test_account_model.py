"""Users separate from accounts: a login in several accounts, with a permission set in each;
what every user of an account is refused when it is not active; search by any contact and any
user; usernames unique under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from conftest import csrf_from
from portal.clients import browse, users
from portal.clients.lifecycle import set_status
from portal.clients.tables import AccountUser, Contact
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.core.errors import ValidationError
from portal.core.passwords import hash_password
from portal.mail.tables import MailMessage
from test_client_area import PASSWORD, client_login, make_client


async def add_user_to(client_ids: list[int], username: str, permissions: list[str]) -> int:
    """A login in each of the accounts, with `permissions` there."""
    company = await _company_of(client_ids[0])
    password_hash = await hash_password(PASSWORD)
    async for transaction in write_transactions():
        async with transaction:
            user_id = await users.add_user(
                company,
                username=username,
                email=f"{username}@example.net",
                name=username.title(),
                password_hash=password_hash,
                language="en",
            )
            for client_id in client_ids:
                await users.add_member(user_id, client_id, permissions=permissions)
    return user_id


async def _company_of(client_id: int) -> int:
    from portal.clients.tables import Client

    return (await Client.select(Client.company).where(Client.id == client_id).first())["company"]


@pytest.fixture
async def two_accounts(company_id) -> tuple[int, int]:
    first = await make_client(email="ann@example.com", username="ann")
    second = await make_client(email="bob@example.com", username="bob", first_name="Bob")
    return first, second


async def test_a_user_switches_between_its_accounts_and_no_other(client, two_accounts, company_id):
    first, second = two_accounts
    await add_user_to([first, second], "carol", ["invoices"])
    stranger = await make_client(email="eve@example.com", username="eve")
    assert (await client_login(client, "carol")).status_code == 303
    page = await client.get("/client")
    assert 'id="account-switch"' in page.text
    assert f'value="{first}" selected' in page.text and f'value="{stranger}"' not in page.text
    token = csrf_from(page.text)
    switched = await client.post("/client/account", data={"_csrf_token": token, "account": second})
    assert switched.status_code == 303
    page = await client.get("/client")
    assert f'value="{second}" selected' in page.text
    # Someone else's account, or nonsense, is not one of the user's.
    for account in (str(stranger), "abc", "0"):
        refused = await client.post(
            "/client/account", data={"_csrf_token": token, "account": account}
        )
        assert refused.status_code == 404
    assert f'value="{second}" selected' in (await client.get("/client")).text


async def test_an_inactive_account_refuses_every_user_and_the_others_stay_open(
    client, two_accounts, company_id
):
    first, second = two_accounts
    await add_user_to([first], "dora", ["invoices"])
    await add_user_to([first, second], "carol", ["invoices"])
    assert (await client_login(client, "dora")).status_code == 303
    await set_status(company_id, first, "inactive", SYSTEM)
    assert (await client.get("/client")).status_code == 302
    assert (await client_login(client, "dora")).status_code == 400
    # A user of another, active account logs in there.
    assert (await client_login(client, "carol")).status_code == 303
    page = await client.get("/client")
    assert page.status_code == 200 and f'value="{first}"' not in page.text
    await set_status(company_id, second, "fraud", SYSTEM)
    assert (await client_login(client, "carol")).status_code == 400


async def test_a_user_may_not_change_the_owners_login_email_or_consent_without_permission(
    client, two_accounts
):
    first, _ = two_accounts
    await add_user_to([first], "dora", ["details"])
    await client_login(client, "dora")
    page = await client.get("/client/details")
    assert page.status_code == 200
    form = {
        "_csrf_token": csrf_from(page.text),
        "version": "1",
        "first_name": "Ann",
        "last_name": "Client",
        "address1": "9 Other Street",
        "city": "Berlin",
        "country": "DE",
        "state": "DE-BE",
        "zip": "10115",
        "email": "dora-owns-this-now@example.com",
        "preferred_currency": "EUR",
        "language": "en",
        "marketing_opt_in": "1",
    }
    assert (await client.post("/client/details", data=form)).status_code == 303
    primary = await Contact.select().where(Contact.client == first).first()
    assert primary["address1"] == "9 Other Street"
    assert primary["email"] == "ann@example.com"
    assert (await users.owner_of(first))["email"] == "ann@example.com"
    from portal.clients.tables import Client

    assert (await Client.select(Client.marketing_opt_in).where(Client.id == first).first())[
        "marketing_opt_in"
    ] is False


async def test_search_finds_an_account_by_any_contact_and_any_user(two_accounts, company_id):
    first, _ = two_accounts
    async for transaction in write_transactions():
        async with transaction:
            await Contact.insert(
                Contact(
                    client=first,
                    contact_type="billing",
                    first_name="Bertha",
                    last_name="Ledger",
                    email="accounts-payable@ledger.example",
                )
            )
    await add_user_to([first], "quartermaster", ["invoices"])
    for query in ("accounts-payable@ledger", "Bertha Ledger", "quartermaster"):
        found = await browse.suggest_clients(company_id, query)
        assert [row.id for row in found.rows] == [first], query


async def test_invitations_are_single_use_and_usernames_unique_under_concurrency(
    two_accounts, company_id
):
    first, second = two_accounts
    await users.invite(company_id, first, "one@example.org", ["invoices"], SYSTEM)
    await users.invite(company_id, second, "two@example.org", ["services"], SYSTEM)
    mails = (
        await MailMessage.select().where(MailMessage.kind == "invitation").order_by(MailMessage.id)
    )
    tokens = [mail["body_text"].split("/client/invitation/")[1].split()[0] for mail in mails]

    async def accept(token: str):
        return await users.accept_as_new_user(
            token, name="Same Person", username="same", password="Sturdy-horse-42", language="en"
        )

    results = await asyncio.gather(*(accept(token) for token in tokens), return_exceptions=True)
    accepted = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(accepted) == 1 and len(refused) == 1, results
    assert "username" in refused[0].errors
    assert await AccountUser.count().where(AccountUser.username == "same") == 1
    # Single use: the accepted link is spent.
    with pytest.raises(Exception) as spent:
        await users.accept_as_new_user(
            tokens[results.index(accepted[0])],
            name="Again",
            username="again",
            password="Sturdy-horse-42",
            language="en",
        )
    assert type(spent.value).__name__ == "NotFound"
    # An address already in the account cannot be invited again.
    with pytest.raises(ValidationError) as again:
        await users.invite(company_id, first, "ann@example.com", [], SYSTEM)
    assert "email" in again.value.errors
