"""Requests that no form would send: repeated names, odd digits, huge numbers, parallel
guesses. Each gets a clear answer, never a 500."""

from __future__ import annotations

import asyncio
import re

from clients_helpers import VALID_FORM, add_client_form
from conftest import csrf_from, get_csrf
from portal.client_groups import services as groups
from portal.client_groups.services import GroupDetails
from portal.clients.tables import Contact, ContactNumber
from portal.core.actors import SYSTEM
from portal.core.forms import FormValues
from test_client_area import PASSWORD, client_login, make_client


async def test_repeated_form_fields_are_not_a_server_error(client, staff):
    token = await get_csrf(client)
    response = await client.post(
        "/admin/login",
        data={
            "_csrf_token": token,
            "email": staff["email"],
            "password": ["wrong", staff["password"]],
        },
    )
    assert response.status_code == 303  # the last value counts
    page = await client.get("/admin")
    response = await client.post(
        "/admin/company",
        data={"_csrf_token": csrf_from(page.text), "company_id": ["1", "2"], "next": ["/a", "/b"]},
    )
    assert response.status_code in {303, 404}


async def test_odd_digits_and_huge_numbers_are_not_a_server_error(admin_client):
    for group in ("²", "9" * 30, "-1", "1.5"):
        response = await admin_client.get(
            "/admin/clients/fragments/custom-fields", params={"group_id": group}
        )
        assert response.status_code == 200
        response = await admin_client.get("/admin/clients", params={"group": group})
        assert response.status_code in {200, 400}
        token, _ = await add_client_form(admin_client)
        response = await admin_client.post(
            "/admin/clients/add", data={**VALID_FORM, "group_id": group, "_csrf_token": token}
        )
        assert (
            response.status_code == 422 and "Choose a client group from the list." in response.text
        )


async def test_parallel_guesses_are_counted(client, staff):
    tokens = [await get_csrf(client) for _ in range(1)]

    async def guess(i: int):
        return await client.post(
            "/admin/login",
            data={"_csrf_token": tokens[0], "email": staff["email"], "password": f"Wrong-{i}-x"},
        )

    statuses = [r.status_code for r in await asyncio.gather(*(guess(i) for i in range(20)))]
    assert statuses.count(400) <= 5 and statuses.count(429) >= 15


async def test_client_cannot_change_numbers_of_a_type_it_may_not_change(client, company_id):
    group = await groups.create_group(
        company_id, GroupDetails(name="Fax locked", overrides={"read_only_fields": "fax"}), SYSTEM
    )
    client_id = await make_client(
        email="fax@example.com",
        group_id=group,
        phone_row=["a", "b"],
        phone_type=["phone", "fax"],
        phone_location=["home", "work"],
        phone_number=["030 1234567", "030 7654321"],
    )
    await client_login(client, "fax@example.com", PASSWORD)
    page = await client.get("/client/details")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    response = await client.post(
        "/client/details",
        data={
            "_csrf_token": csrf_from(page.text),
            "version": version,
            "first_name": "Ann",
            "last_name": "Client",
            "email": "fax@example.com",
            "country": "DE",
            "language": "en",
            "phone_row": ["x", "y"],
            "phone_type": ["phone", "fax"],
            "phone_location": ["home", "home"],
            "phone_number": ["030 1111111", "030 2222222"],
        },
    )
    assert response.status_code == 303, response.text
    contact = await Contact.select(Contact.id).where(Contact.client == client_id).first()
    numbers = await ContactNumber.select(ContactNumber.number_type, ContactNumber.number).where(
        ContactNumber.contact == contact["id"]
    )
    assert sorted((n["number_type"], n["number"]) for n in numbers) == [
        ("fax", "+49307654321"),
        ("phone", "+49301111111"),
    ]


async def test_client_details_with_an_odd_version(client, company_id):
    await make_client(email="v@example.com")
    await client_login(client, "v@example.com", PASSWORD)
    page = await client.get("/client/details")
    response = await client.post(
        "/client/details",
        data={
            "_csrf_token": csrf_from(page.text),
            "version": "²",
            "first_name": "A",
            "last_name": "B",
            "email": "v@example.com",
            "country": "DE",
            "language": "en",
        },
    )
    assert response.status_code in {303, 409, 422}


async def test_control_characters_are_left_out_of_what_is_kept(admin_client):
    """Pasted escape sequences, bells and DEL reach no page, export or terminal: a form keeps
    what was typed around them."""
    token, group_id = await add_client_form(admin_client)
    data = {
        **VALID_FORM,
        "group_id": group_id,
        "_csrf_token": token,
        "first_name": "Te\x01\x07\x1b[31mss\x7f\x9b",
    }
    assert (await admin_client.post("/admin/clients/add", data=data)).status_code == 303
    contact = await Contact.select(Contact.first_name).first()
    assert contact == {"first_name": "Te[31mss"}


def test_a_password_is_kept_as_typed_but_for_nul():
    """A password is the exact secret chosen (the API keeps it whole too): a form leaves out
    only NUL from it, and control characters from everything else."""
    values = FormValues.of(
        [("new_password", "Se\x7fcr\x1bet\x00"), ("first_name", "Se\x7fcr\x1bet\x00")]
    )
    assert values["new_password"] == "Se\x7fcr\x1bet"
    assert values["first_name"] == "Secret"


async def test_a_required_field_of_invisible_characters_only_is_empty(admin_client):
    token, group_id = await add_client_form(admin_client)
    data = {**VALID_FORM, "group_id": group_id, "_csrf_token": token, "last_name": "\u200f\u200b"}
    refused = await admin_client.post("/admin/clients/add", data=data)
    assert refused.status_code == 422 and "Last Name is required." in refused.text
    assert await Contact.count() == 0
