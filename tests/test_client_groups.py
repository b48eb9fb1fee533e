"""[Settings] > [Company] > Client Groups, custom client fields and Client Settings, over HTTP, on
the run's database."""

from __future__ import annotations

import html
import re

import pytest
from markupsafe import escape

from conftest import csrf_from
from portal.client_groups import services
from portal.client_groups.tables import ClientGroup, ClientGroupSetting, CustomField
from portal.clients.tables import Client
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from profile_helpers import make_client

GROUPS = "/admin/settings/company/client-groups"
CLIENT_SETTINGS = "/admin/settings/company/client-settings"


async def _token(client, path: str = GROUPS) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text[:2000]
    return csrf_from(response.text)


def _group_form(**overrides) -> dict:
    data = {
        "name": "VIP",
        "description": "Our best clients",
        "colour": "#7c3aed",
        **{f"mode_{key}": "follow" for key in services.SETTINGS},
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


async def _post(client, path: str, data: dict):
    return await client.post(path, data={**data, "_csrf_token": await _token(client)})


async def _create_group(client, **overrides) -> int:
    response = await _post(client, f"{GROUPS}/add", _group_form(**overrides))
    assert response.status_code == 303, response.text[:3000]
    assert response.headers["location"] == GROUPS
    name = overrides.get("name", "VIP").strip()
    row = await ClientGroup.select(ClientGroup.id).where(ClientGroup.name == name).first()
    return row["id"]


def _field_form(**overrides) -> dict:
    data = {
        "label": "Account Manager",
        "field_type": "textbox",
        "options": "",
        "required": "no",
        "regex": "",
        "default_value": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def _create_field(client, group_id: int, **overrides) -> int:
    response = await _post(client, f"{GROUPS}/{group_id}/fields", _field_form(**overrides))
    assert response.status_code == 303, response.text[:3000]
    assert response.headers["location"] == f"{GROUPS}/{group_id}/fields"
    row = (
        await CustomField.select(CustomField.id)
        .where(CustomField.group == group_id)
        .order_by(CustomField.id, ascending=False)
        .first()
    )
    return row["id"]


async def _general_id(company_id: int) -> int:
    return await services.default_group_id(company_id)


async def _add_client(company_id: int, group_id: int, email: str) -> int:
    from portal.clients.services import ClientDetails, PhoneRow, create_client
    from portal.core.actors import Actor

    return await create_client(
        company_id,
        ClientDetails(
            first_name="Ada",
            last_name="Lovelace",
            email=email,
            country="GB",
            preferred_currency="USD",
            language="en",
            group_id=str(group_id),
            phones=[PhoneRow(row_id="a")],
        ),
        "Sturdy-horse-42",
        Actor(kind="system"),
    )


def _text(response) -> str:
    return html.unescape(response.text)


# --- the list -------------------------------------------------------------------------------


async def test_list_shows_general_with_its_count_and_no_delete_control(admin_client, company_id):
    general = await _general_id(company_id)
    await _add_client(company_id, general, "one@example.com")
    response = await admin_client.get(GROUPS)
    assert response.status_code == 200
    assert "<title>Client Groups" in response.text
    row = re.search(rf'<tr id="group-{general}">(.*?)</tr>', response.text, re.S)
    assert row, response.text
    assert "General" in row.group(1) and "Default" in row.group(1)
    assert '<td class="num">1</td>' in row.group(1)
    assert f"{GROUPS}/{general}/edit" in row.group(1)
    assert "/delete" not in row.group(1) and "Delete" not in row.group(1)
    assert f'group-colour-{general}"' in row.group(1)
    # The badge colours come from a stylesheet the page links (no inline style: CSP).
    assert f'href="{GROUPS}/colours.css"' in response.text
    assert "style=" not in response.text
    css = await admin_client.get(f"{GROUPS}/colours.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert f".group-colour-{general}{{background:#1f6feb;color:#ffffff}}" in css.text
    # The Settings menu leads to both pages.
    assert f'href="{GROUPS}"' in response.text and f'href="{CLIENT_SETTINGS}"' in response.text


async def test_create_vip_with_a_colour(admin_client, company_id):
    page = await admin_client.get(f"{GROUPS}/add")
    assert page.status_code == 200 and "<title>Add Group" in page.text
    assert '<label for="name">Name</label>' in page.text
    assert 'type="color"' in page.text and '<label for="colour">' in page.text
    assert "Follow the company setting (currently: {num})" in _text(page)
    vip = await _create_group(admin_client, colour="#FFD700")
    row = await ClientGroup.select().where(ClientGroup.id == vip).first()
    assert (row["name"], row["description"], row["colour"], row["company"]) == (
        "VIP",
        "Our best clients",
        "#ffd700",
        company_id,
    )
    assert row["is_default"] is False
    assert await services.group_overrides(vip) == {}

    listing = await admin_client.get(GROUPS)
    assert "The group VIP was created." in listing.text
    vip_row = re.search(rf'<tr id="group-{vip}">(.*?)</tr>', listing.text, re.S).group(1)
    assert f'class="badge group-badge group-colour-{vip}">VIP</span>' in vip_row
    assert "Our best clients" in vip_row and '<td class="num">0</td>' in vip_row
    assert f"{GROUPS}/{vip}/delete" in vip_row
    css = (await admin_client.get(f"{GROUPS}/colours.css")).text
    # Gold is light: black text (contrast at least 4.5:1).
    assert f".group-colour-{vip}{{background:#ffd700;color:#000000}}" in css


async def test_the_colour_picker_wins_when_it_was_changed(admin_client):
    vip = await _create_group(
        admin_client, colour="#000001", colour_picker="#123456", colour_initial="#1f6feb"
    )
    assert (await ClientGroup.select().where(ClientGroup.id == vip).first())["colour"] == "#123456"
    other = await _create_group(
        admin_client,
        name="Typed",
        colour="#abcdef",
        colour_picker="#1f6feb",
        colour_initial="#1f6feb",
    )
    assert (await ClientGroup.select().where(ClientGroup.id == other).first())[
        "colour"
    ] == "#abcdef"


def test_badge_text_colour_always_has_aa_contrast():
    from portal.client_groups.routes import _luminance, text_colour

    def ratio(a: str, b: str) -> float:
        la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
        return (la + 0.05) / (lb + 0.05)

    for value in range(0, 0x1000000, 0x010307):
        colour = f"#{value:06x}"
        assert ratio(colour, text_colour(colour)) >= 4.5, colour


@pytest.mark.parametrize("name", ["VIP", "vip", "  Vip  "])
async def test_duplicate_group_name_is_refused_and_nothing_saved(admin_client, name):
    await _create_group(admin_client)
    response = await _post(admin_client, f"{GROUPS}/add", _group_form(name=name, colour="#00ff00"))
    assert response.status_code == 422
    assert "This company already has a group with this name." in response.text
    assert 'id="name-error"' in response.text
    assert f'value="{name.strip()}"' in response.text and 'value="#00ff00"' in response.text
    assert await ClientGroup.count() == 2


async def test_renaming_onto_another_group_is_refused(admin_client, company_id):
    vip = await _create_group(admin_client)
    general = await _general_id(company_id)
    response = await _post(admin_client, f"{GROUPS}/{general}/edit", _group_form(name="vip"))
    assert response.status_code == 422
    assert "This company already has a group with this name." in response.text
    assert (await ClientGroup.select().where(ClientGroup.id == general).first())[
        "name"
    ] == "General"
    assert (await ClientGroup.select().where(ClientGroup.id == vip).first())["name"] == "VIP"


BAD_GROUPS = [
    ({"name": ""}, "name", "Name is required."),
    ({"name": "   "}, "name", "Name is required."),
    ({"name": "N" * 10_000}, "name", "Name is too long (at most 100 characters)."),
    ({"description": "D" * 10_000}, "description", "Description is too long"),
    ({"colour": "red"}, "colour", "Choose a colour like #1f6feb."),
    ({"colour": "#12345g"}, "colour", "Choose a colour like #1f6feb."),
    ({"colour": "x" * 10_000}, "colour", "Choose a colour like #1f6feb."),
    (
        {"mode_client_id_format": "override", "setting_client_id_format": "VIP-"},
        "setting_client_id_format",
        "The format must contain {num}",
    ),
    (
        {"mode_client_id_start": "override", "setting_client_id_start": "²"},
        "setting_client_id_start",
        "Enter a whole number of at least 0.",
    ),
    (
        {"mode_client_id_increment": "override", "setting_client_id_increment": "9" * 10_000},
        "setting_client_id_increment",
        "Enter a whole number of at least 1.",
    ),
    (
        {"mode_required_fields": "override", "setting_required_fields": ["city", "<b>x</b>"]},
        "setting_required_fields",
        "Unknown fields: <b>x</b>.",
    ),
    (
        {"mode_unique_contact_emails": "override", "setting_unique_contact_emails": "maybe"},
        "setting_unique_contact_emails",
        "Choose one of the options.",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_GROUPS)
async def test_bad_group_input_gets_its_message_and_keeps_what_was_typed(
    admin_client, overrides, field, message
):
    data = _group_form(**{"description": "Kept <i>as typed</i>", **overrides})
    response = await _post(admin_client, f"{GROUPS}/add", data)
    assert response.status_code == 422
    assert message in _text(response)
    assert f'id="{field}-error"' in response.text
    assert 'class="form-error-summary"' in response.text
    assert "<i>as typed</i>" not in response.text  # escaped
    if field != "description":
        assert "Kept &lt;i&gt;as typed&lt;/i&gt;</textarea>" in response.text
    else:
        assert "D" * 10_000 + "</textarea>" in response.text
    name = data["name"]
    if name.strip():
        assert f'value="{name.strip()}"' in response.text
    if "mode_client_id_format" in overrides:
        checked = 'name="mode_client_id_format" value="override" checked'
        assert f'id="mode_client_id_format_override" {checked}' in response.text
        assert 'value="VIP-"' in response.text
    assert await ClientGroup.count() == 1
    assert await ClientGroupSetting.count() == 0


async def test_script_tags_are_stored_as_typed_and_shown_escaped(admin_client, company_id):
    script = "<script>alert('x')</script>"
    vip = await _create_group(admin_client, name=script, description=script + " & more")
    row = await ClientGroup.select().where(ClientGroup.id == vip).first()
    assert row["name"] == script and row["description"] == script + " & more"
    for path in (
        GROUPS,
        f"{GROUPS}/{vip}/edit",
        f"{GROUPS}/{vip}/delete",
        f"{GROUPS}/{vip}/fields",
    ):
        response = await admin_client.get(path)
        assert response.status_code == 200
        assert "<script>alert" not in response.text
        assert "&lt;script&gt;alert(" in response.text
    field = await _create_field(admin_client, vip, label=script, default_value=script)
    response = await admin_client.get(f"{GROUPS}/{vip}/fields/{field}/edit")
    assert "<script>alert" not in response.text and "&lt;script&gt;" in response.text
    assert (await CustomField.select().where(CustomField.id == field).first())["label"] == script


async def test_browse_filters_show_the_choice_selected_and_names_escaped(admin_client):
    script = "<script>alert('x')</script> & co"
    vip = await _create_group(admin_client, name=script)
    response = await admin_client.get(f"/admin/clients?group={vip}&country=GB")
    assert response.status_code == 200
    text = response.text
    assert "<script>alert" not in text
    group_select = text[
        text.index('id="filter-group"') : text.index("</select>", text.index('id="filter-group"'))
    ]
    assert f'<option value="{vip}" selected>{escape(script)}</option>' in group_select
    assert group_select.count(" selected>") == 1
    country_select = text[
        text.index('id="filter-country"') : text.index(
            "</select>", text.index('id="filter-country"')
        )
    ]
    assert '<option value="GB" selected>United Kingdom</option>' in country_select
    assert country_select.count(" selected>") == 1
    assert '<option value="FR">France</option>' in country_select


# --- edit and settings inheritance ----------------------------------------------------------


async def test_edit_group_overrides_and_follows_settings(admin_client, company_id):
    vip = await _create_group(admin_client)
    response = await _post(
        admin_client,
        f"{GROUPS}/{vip}/edit",
        _group_form(
            name="VIP Clients",
            colour="#00ff00",
            mode_required_fields="override",
            setting_required_fields=["address1", "phone"],
            mode_usernames_must_be_emails="override",
            setting_usernames_must_be_emails="true",
            # typed but following: not stored
            setting_client_id_format="IGNORED-{num}",
        ),
    )
    assert response.status_code == 303, response.text[:3000]
    assert await services.group_overrides(vip) == {
        "required_fields": "address1,phone",
        "usernames_must_be_emails": "true",
    }
    effective = await services.effective_settings(company_id, vip)
    assert effective.required_fields == {"first_name", "last_name", "email", "address1", "phone"}
    assert effective.usernames_must_be_emails is True
    assert effective.client_id_format == "{num}"

    page = await admin_client.get(f"{GROUPS}/{vip}/edit")
    assert page.status_code == 200 and "<title>Edit Group VIP Clients" in page.text
    text = page.text
    assert (
        'id="mode_required_fields_override" name="mode_required_fields" value="override" checked'
        in text
    )
    ticked = 'name="setting_required_fields" value="address1" checked'
    assert f'id="setting_required_fields-address1" {ticked}' in text
    assert (
        'id="setting_required_fields-phone" name="setting_required_fields" value="phone" checked'
        in text
    )
    assert 'id="setting_required_fields-city" name="setting_required_fields" value="city">' in text
    # First name, last name and email: always required, shown ticked and disabled.
    assert 'value="first_name" checked disabled' in text
    assert (
        'id="mode_client_id_format_follow" name="mode_client_id_format" value="follow" checked'
        in text
    )
    assert '<fieldset class="setting' in text and "<legend>Required contact fields</legend>" in text

    # Back to following the company for one key.
    response = await _post(
        admin_client,
        f"{GROUPS}/{vip}/edit",
        _group_form(
            name="VIP Clients",
            mode_usernames_must_be_emails="override",
            setting_usernames_must_be_emails="true",
        ),
    )
    assert response.status_code == 303
    assert await services.group_overrides(vip) == {"usernames_must_be_emails": "true"}


async def test_company_setting_reaches_groups_that_follow_it_only(admin_client, company_id):
    follows = await _create_group(admin_client, name="Follows")
    overrides = await _create_group(
        admin_client,
        name="Overrides",
        mode_client_id_format="override",
        setting_client_id_format="OV-{num}",
    )
    page = await admin_client.get(CLIENT_SETTINGS)
    assert page.status_code == 200 and "<title>Client Settings" in page.text
    assert 'name="setting_client_id_format" value="{num}"' in page.text
    assert 'name="setting_client_id_start" value="1500"' in page.text
    values = {
        "setting_required_fields": ["city"],
        "setting_shown_fields": ["company", "city", "phone"],
        "setting_read_only_fields": [],
        "setting_usernames_must_be_emails": "false",
        "setting_unique_contact_emails": "primary",
        "setting_client_id_format": "C-{num}",
        "setting_client_id_start": "100",
        "setting_client_id_increment": "2",
        "_csrf_token": csrf_from(page.text),
    }
    response = await admin_client.post(CLIENT_SETTINGS, data=values)
    assert response.status_code == 303, response.text[:3000]
    assert response.headers["location"] == CLIENT_SETTINGS

    follow = await services.effective_settings(company_id, follows)
    assert follow.client_id_format == "C-{num}" and follow.sources["client_id_format"] == "company"
    assert (follow.client_id_start, follow.client_id_increment) == (100, 2)
    assert follow.required_fields == {"first_name", "last_name", "email", "city"}
    assert follow.unique_contact_emails == "primary"
    override = await services.effective_settings(company_id, overrides)
    assert (
        override.client_id_format == "OV-{num}" and override.sources["client_id_format"] == "group"
    )
    assert override.client_id_start == 100

    page = await admin_client.get(CLIENT_SETTINGS)
    assert "The client settings were saved." in page.text
    assert 'name="setting_client_id_format" value="C-{num}"' in page.text
    assert 'value="city" checked' in page.text
    edit = await admin_client.get(f"{GROUPS}/{follows}/edit")
    assert "Follow the company setting (currently: C-{num})" in _text(edit)
    assert "Follow the company setting (currently: First Name, Last Name, City, Email)" in _text(
        edit
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("setting_client_id_format", "C-", "The format must contain {num}"),
        ("setting_client_id_format", "{num}" + "x" * 10_000, "The format is too long"),
        ("setting_client_id_start", "abc", "Enter a whole number of at least 0."),
        ("setting_client_id_increment", "0", "Enter a whole number of at least 1."),
        ("setting_usernames_must_be_emails", "<script>", "Choose yes or no."),
    ],
)
async def test_bad_client_settings_get_their_message(
    admin_client, company_id, field, value, message
):
    before = await services.company_setting_values(company_id)
    data = {
        "setting_usernames_must_be_emails": "false",
        "setting_unique_contact_emails": "no",
        "setting_client_id_format": "K-{num}",
        "setting_client_id_start": "7",
        "setting_client_id_increment": "1",
        field: value,
    }
    response = await _post(admin_client, CLIENT_SETTINGS, data)
    assert response.status_code == 422
    assert message in _text(response) and f'id="{field}-error"' in response.text
    assert "<script>" not in response.text
    if field != "setting_client_id_format":
        assert 'value="K-{num}"' in response.text
    assert await services.company_setting_values(company_id) == before


# --- delete ---------------------------------------------------------------------------------


async def test_general_cannot_be_deleted(admin_client, company_id):
    general = await _general_id(company_id)
    await _add_client(company_id, general, "stay@example.com")
    page = await admin_client.get(f"{GROUPS}/{general}/delete")
    assert page.status_code == 200
    assert "cannot be deleted" in page.text
    assert "Delete Group</button>" not in page.text
    edit = await admin_client.get(f"{GROUPS}/{general}/edit")
    assert f"{GROUPS}/{general}/delete" not in edit.text
    # A forged POST is refused and deletes nothing.
    response = await _post(admin_client, f"{GROUPS}/{general}/delete", {})
    assert response.status_code == 409
    assert "The default group cannot be deleted." in response.text
    assert await ClientGroup.exists().where(ClientGroup.id == general)
    assert await Client.count().where(Client.group == general) == 1


async def test_deleting_vip_moves_its_clients_to_general(admin_client, company_id):
    general = await _general_id(company_id)
    vip = await _create_group(admin_client)
    await _create_field(admin_client, vip)
    clients = [await _add_client(company_id, vip, f"vip{i}@example.com") for i in range(2)]
    await _add_client(company_id, general, "general@example.com")

    listing = await admin_client.get(GROUPS)
    vip_row = re.search(rf'<tr id="group-{vip}">(.*?)</tr>', listing.text, re.S).group(1)
    assert '<td class="num">2</td>' in vip_row

    page = await admin_client.get(f"{GROUPS}/{vip}/delete")
    assert page.status_code == 200 and "<title>Delete Group VIP" in page.text
    assert "2 clients will move to General" in page.text
    response = await admin_client.post(
        f"{GROUPS}/{vip}/delete", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303 and response.headers["location"] == GROUPS
    assert not await ClientGroup.exists().where(ClientGroup.id == vip)
    assert await CustomField.count().where(CustomField.group == vip) == 0
    rows = await Client.select(Client.id, Client.group).where(Client.id.is_in(clients))
    assert {row["group"] for row in rows} == {general} and len(rows) == 2
    listing = await admin_client.get(GROUPS)
    assert "The group VIP was deleted. 2 clients moved to General." in listing.text
    assert f'<tr id="group-{vip}">' not in listing.text
    general_row = re.search(rf'<tr id="group-{general}">(.*?)</tr>', listing.text, re.S).group(1)
    assert '<td class="num">3</td>' in general_row


async def test_deleting_an_empty_group_says_so(admin_client):
    vip = await _create_group(admin_client)
    page = await admin_client.get(f"{GROUPS}/{vip}/delete")
    assert "No clients are in this group" in page.text
    await _post(admin_client, f"{GROUPS}/{vip}/delete", {})
    listing = await admin_client.get(GROUPS)
    assert "0 clients moved to General." in listing.text


# --- custom fields --------------------------------------------------------------------------


async def test_fields_are_added_edited_ordered_and_deleted(admin_client, company_id):
    vip = await _create_group(admin_client)
    page = await admin_client.get(f"{GROUPS}/{vip}/fields")
    assert page.status_code == 200 and "<title>Custom Client Fields – VIP" in page.text
    for label in ("Label", "Type", "Options", "Regex", "Default value"):
        assert f">{label}</label>" in page.text
    assert "<legend>Required</legend>" in page.text
    for label in ("Visible to Clients", "Read Only for Clients", "Encrypted"):
        assert f">{label}</label>" in page.text

    level = await _create_field(
        admin_client,
        vip,
        label="Level",
        field_type="select",
        options="Gold\n\n Silver \nBronze",
        required="yes",
        default_value="Silver",
        visible_to_client="1",
    )
    code = await _create_field(
        admin_client,
        vip,
        label="Code",
        required="regex",
        regex=r"[A-Z]{2}\d{3}",
        default_value="AB123",
        encrypted="1",
    )
    notes = await _create_field(admin_client, vip, label="Notes", field_type="textarea")
    row = await CustomField.select().where(CustomField.id == level).first()
    assert row["options"] == "Gold\nSilver\nBronze" and row["required"] == "yes"
    assert row["visible_to_client"] is True and row["encrypted"] is False
    assert (await CustomField.select().where(CustomField.id == code).first())["encrypted"] is True

    async def order() -> list[int]:
        return [f["id"] for f in await services.list_fields(company_id, vip)]

    async def html_order() -> list[int]:
        text = (await admin_client.get(f"{GROUPS}/{vip}/fields")).text
        return [int(i) for i in re.findall(r'<tr id="field-(\d+)">', text)]

    assert await order() == [level, code, notes] == await html_order()

    async def move(field_id: int, direction: str):
        response = await _post(
            admin_client, f"{GROUPS}/{vip}/fields/{field_id}/move", {"direction": direction}
        )
        assert response.status_code == 303
        return response

    await move(notes, "up")
    assert await order() == [level, notes, code] == await html_order()
    await move(level, "down")
    assert await order() == [notes, level, code]
    await move(notes, "up")  # already first: nothing moves
    await move(code, "down")  # already last
    assert await order() == [notes, level, code] == await html_order()
    bad = await _post(admin_client, f"{GROUPS}/{vip}/fields/{code}/move", {"direction": "sideways"})
    assert bad.status_code == 303 and await order() == [notes, level, code]
    # First row: no working Move up; last row: no working Move down.
    text = (await admin_client.get(f"{GROUPS}/{vip}/fields")).text
    first_row = re.search(rf'<tr id="field-{notes}">(.*?)</tr>', text, re.S).group(1)
    assert re.search(r'type="submit" disabled>Move up', first_row)
    assert not re.search(r'type="submit" disabled>Move down', first_row)

    # Edit.
    page = await admin_client.get(f"{GROUPS}/{vip}/fields/{level}/edit")
    assert page.status_code == 200 and 'value="Level"' in page.text
    assert "Gold\nSilver\nBronze</textarea>" in page.text
    response = await admin_client.post(
        f"{GROUPS}/{vip}/fields/{level}/edit",
        data={
            **_field_form(label="Tier", field_type="select", options="Gold\nSilver", required="no"),
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 303
    row = await CustomField.select().where(CustomField.id == level).first()
    assert (row["label"], row["options"], row["required"], row["visible_to_client"]) == (
        "Tier",
        "Gold\nSilver",
        "no",
        False,
    )
    # The group's edit page lists its fields in order.
    edit = await admin_client.get(f"{GROUPS}/{vip}/edit")
    assert re.search(r"Notes.*Tier.*Code", edit.text, re.S)

    # Delete, after a confirmation.
    page = await admin_client.get(f"{GROUPS}/{vip}/fields/{notes}/delete")
    assert page.status_code == 200 and "Delete Field</button>" in page.text
    assert await CustomField.exists().where(CustomField.id == notes)
    response = await admin_client.post(
        f"{GROUPS}/{vip}/fields/{notes}/delete", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    assert await order() == [level, code]
    assert "The field Notes was deleted." in (await admin_client.get(f"{GROUPS}/{vip}/fields")).text


BAD_FIELDS = [
    ({"label": ""}, "label", "Label is required."),
    ({"label": "L" * 10_000}, "label", "Label is too long (at most 100 characters)."),
    ({"field_type": "<script>"}, "field_type", "Choose a field type from the list."),
    ({"required": "maybe"}, "required", "Choose No, Yes or Custom Regex."),
    ({"required": "regex", "regex": "([a-z"}, "regex", "This is not a valid regular expression"),
    ({"required": "regex", "regex": "[0-9]{2000}"}, "regex", "repeat counts over 1000"),
    ({"required": "regex", "regex": r"(\w+)\1"}, "regex", "Back-references such as"),
    ({"required": "regex", "regex": ""}, "regex", "Enter the regular expression"),
    ({"required": "regex", "regex": "x" * 10_000}, "regex", "The regular expression is too long"),
    ({"field_type": "select", "options": "\n  \n"}, "options", "A dropdown needs at least one"),
    ({"field_type": "select", "options": "o\n" * 5_000}, "options", "Options are too long"),
    (
        {"field_type": "number", "default_value": "abc"},
        "default_value",
        "The default value does not fit the field: Account Manager: enter a number.",
    ),
    (
        {"field_type": "select", "options": "Gold\nSilver", "default_value": "Platinum"},
        "default_value",
        "choose one of the options",
    ),
    (
        {"required": "regex", "regex": r"[A-Z]{2}\d{3}", "default_value": "ab123"},
        "default_value",
        "is not in the expected format",
    ),
    ({"field_type": "date", "default_value": "31/12/2025"}, "default_value", "YYYY-MM-DD"),
    # ISO 8601 forms a date input cannot show again: kept, the next save cleared them.
    ({"field_type": "date", "default_value": "20240101"}, "default_value", "YYYY-MM-DD"),
    ({"field_type": "date", "default_value": "2024-W01-1"}, "default_value", "YYYY-MM-DD"),
    ({"field_type": "number", "default_value": "1_000"}, "default_value", "enter a number"),
    ({"field_type": "number", "default_value": "١٢٣"}, "default_value", "enter a number"),
    ({"field_type": "number", "default_value": "1e999999999"}, "default_value", "enter a number"),
    ({"field_type": "checkbox", "default_value": "yes"}, "default_value", "tick the box"),
    ({"default_value": "v" * 10_000}, "default_value", "too long (at most 255 characters)"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_FIELDS)
async def test_bad_field_input_gets_its_message_and_keeps_what_was_typed(
    admin_client, overrides, field, message
):
    vip = await _create_group(admin_client)
    data = _field_form(**overrides)
    response = await _post(admin_client, f"{GROUPS}/{vip}/fields", data)
    assert response.status_code == 422
    assert message in _text(response)
    assert f'id="{field}-error"' in response.text
    for name in ("label", "regex", "default_value"):
        if data.get(name) and len(data[name]) < 1000:
            assert f'value="{html.escape(data[name].strip())}"' in response.text
    if "\n" in data.get("options", "") and data["options"].strip():
        assert html.escape(data["options"].strip()) in response.text
    assert "<script>" not in response.text.split("</head>", 1)[1]
    assert await CustomField.count() == 0
    # The same rules apply when a field is edited; the field is left as it was.
    field_id = await _create_field(admin_client, vip, label="Kept")
    response = await _post(admin_client, f"{GROUPS}/{vip}/fields/{field_id}/edit", data)
    assert response.status_code == 422 and message in _text(response)
    assert (await CustomField.select().where(CustomField.id == field_id).first())["label"] == "Kept"


# --- companies ------------------------------------------------------------------------------


async def test_other_company_groups_and_fields_are_404(admin_client, company_id, second_company):
    other_group = await services.create_group(
        second_company, services.GroupDetails(name="Their VIP", colour="#ff0000"), SYSTEM
    )
    other_field = await services.create_field(
        second_company, other_group, services.FieldDetails(label="Secret"), SYSTEM
    )
    their_general = await _general_id(second_company)
    mine = await _create_group(admin_client)
    my_field = await _create_field(admin_client, mine)

    listing = await admin_client.get(GROUPS)
    assert "Their VIP" not in listing.text
    css = (await admin_client.get(f"{GROUPS}/colours.css")).text
    assert f".group-colour-{other_group}{{" not in css and f".group-colour-{mine}{{" in css

    for group in (other_group, their_general, 999_999, 99_999_999_999):
        for path in ("edit", "delete", "fields"):
            assert (await admin_client.get(f"{GROUPS}/{group}/{path}")).status_code == 404
        for path, data in (
            ("edit", _group_form(name="Hijacked")),
            ("delete", {}),
            ("fields", _field_form()),
        ):
            response = await _post(admin_client, f"{GROUPS}/{group}/{path}", data)
            assert response.status_code == 404, (group, path)
    # Their field, reached through their group or through mine.
    for group, field in ((other_group, other_field), (mine, other_field), (other_group, my_field)):
        base = f"{GROUPS}/{group}/fields/{field}"
        assert (await admin_client.get(f"{base}/edit")).status_code == 404
        assert (await admin_client.get(f"{base}/delete")).status_code == 404
        for path, data in (
            ("edit", _field_form(label="Hijacked")),
            ("delete", {}),
            ("move", {"direction": "up"}),
        ):
            assert (await _post(admin_client, f"{base}/{path}", data)).status_code == 404

    assert (await ClientGroup.select().where(ClientGroup.id == other_group).first())[
        "name"
    ] == "Their VIP"
    assert await ClientGroup.exists().where(ClientGroup.id == their_general)
    assert (await CustomField.select().where(CustomField.id == other_field).first())[
        "label"
    ] == "Secret"
    assert await CustomField.count().where(CustomField.group == other_group) == 1
    assert await CustomField.count().where(CustomField.group == mine) == 1
    # Company settings are the company's own.
    await _post(
        admin_client,
        CLIENT_SETTINGS,
        {
            "setting_usernames_must_be_emails": "true",
            "setting_unique_contact_emails": "all",
            "setting_client_id_format": "A-{num}",
            "setting_client_id_start": "1",
            "setting_client_id_increment": "1",
        },
    )
    assert (await services.effective_settings(company_id)).client_id_format == "A-{num}"
    theirs = await services.effective_settings(second_company, other_group)
    assert theirs.client_id_format == "{num}" and theirs.usernames_must_be_emails is False


async def test_staff_of_the_second_company_see_only_its_groups(client, second_company):
    from conftest import STAFF_PASSWORD, login_staff
    from portal.companies.services import create_company
    from portal.staff.services import create_staff

    await create_company("First Company")
    first = (await ClientGroup.select().where(ClientGroup.company != second_company).first())["id"]
    await create_staff(
        email="b@example.com",
        password=STAFF_PASSWORD,
        first_name="Bea",
        last_name="B",
        company_ids=[second_company],
    )
    await login_staff(client, "b@example.com", STAFF_PASSWORD)
    listing = await client.get(GROUPS)
    their_general = await _general_id(second_company)
    assert f'<tr id="group-{their_general}">' in listing.text
    assert f'<tr id="group-{first}">' not in listing.text
    assert (await client.get(f"{GROUPS}/{first}/edit")).status_code == 404
    response = await _post(client, f"{GROUPS}/{first}/edit", _group_form(name="Taken"))
    assert response.status_code == 404
    assert (await ClientGroup.select().where(ClientGroup.id == first).first())["name"] == "General"


async def test_pages_need_a_staff_login(client, staff):
    for path in (GROUPS, f"{GROUPS}/colours.css", f"{GROUPS}/add", CLIENT_SETTINGS):
        response = await client.get(path)
        assert response.status_code in {302, 303}
        assert response.headers["location"].startswith("/admin/login")


async def test_posts_need_a_csrf_token(admin_client):
    response = await admin_client.post(f"{GROUPS}/add", data=_group_form())
    assert response.status_code == 403
    assert await ClientGroup.count() == 1


async def test_a_value_of_a_field_deleted_meanwhile_is_dropped_and_the_rest_saved(company_id):
    """An edit checked while a custom field existed, saved after it was deleted: the other
    values are saved (its value has no field to go with), not the whole edit lost to a 404."""
    general = await services.default_group_id(company_id)
    kept = await services.create_field(
        company_id, general, services.FieldDetails(label="Kept"), SYSTEM
    )
    gone = await services.create_field(
        company_id, general, services.FieldDetails(label="Gone"), SYSTEM
    )
    client_id = await make_client(company_id)
    await services.delete_field(company_id, gone, SYSTEM)
    async for transaction in write_transactions():
        async with transaction:
            await services.save_custom_values(client_id, {kept: "stays", gone: "lost"})
    assert await services.custom_values(client_id) == {kept: "stays"}
