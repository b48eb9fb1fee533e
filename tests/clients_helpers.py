"""Helpers for tests that fill the client form over HTTP."""

from __future__ import annotations

from conftest import csrf_from

VALID_FORM = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "company": "Navy Labs",
    "title": "Rear Admiral",
    "address1": "1 Compiler Way",
    "address2": "Suite 2",
    "city": "Toronto",
    "country": "CA",
    "state": "CA-ON",
    "zip": "M5V 2T6",
    "email": "grace@example.com",
    "phone_row": ["r1", "r2", "r3"],
    "phone_type": ["phone", "fax", "fax"],
    "phone_location": ["work", "work", "home"],
    "phone_number": ["416 555 0199", "+1 416-555-0188", "(647) 555-0177 ext. 12"],
    "tax_id": "CA123456789",
    "preferred_currency": "USD",  # the test company's default: accepted without more
    "username_mode": "email",
    "password": "Sturdy-horse-42",
    "language": "en",
    "marketing_opt_in": "1",
}


async def add_client_form(client) -> tuple[str, str]:
    """(CSRF token, default group id) from the Add Client page."""
    page = await client.get("/admin/clients/add")
    assert page.status_code == 200
    import re

    group = re.search(
        r'<select id="group_id" name="group_id"[^>]*>\s*<option value="(\d+)"', page.text
    )
    assert group
    return csrf_from(page.text), group.group(1)


async def post_add_client(client, **overrides):
    token, group_id = await add_client_form(client)
    data = {**VALID_FORM, "group_id": group_id, "_csrf_token": token}
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return await client.post("/admin/clients/add", data=data)
