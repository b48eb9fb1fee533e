"""Companies and company scoping in the admin area."""

from conftest import csrf_from, login_staff
from portal.client_groups.tables import ClientGroup
from portal.companies.services import create_company
from portal.staff.services import create_staff


async def test_every_company_gets_a_default_general_group(company_id, second_company):
    groups = await ClientGroup.select(ClientGroup.company, ClientGroup.name, ClientGroup.is_default)
    assert sorted((g["company"], g["name"], g["is_default"]) for g in groups) == [
        (company_id, "General", True),
        (second_company, "General", True),
    ]


async def test_staff_of_one_company_never_sees_the_other(client, company_id):
    other = await create_company("Other Secret Corp", currency="GBP", country="GB")
    await create_staff(
        email="one@example.com", password="Sturdy-horse-42", company_ids=[company_id]
    )
    await login_staff(client, "one@example.com", "Sturdy-horse-42")
    page = await client.get("/admin")
    assert "Other Secret Corp" not in page.text
    response = await client.post(
        "/admin/company", data={"_csrf_token": csrf_from(page.text), "company_id": str(other)}
    )
    assert response.status_code == 404
    assert "Other Secret Corp" not in (await client.get("/admin")).text


async def test_staff_with_two_companies_switches(client, company_id):
    other = await create_company("Other Corp", currency="GBP", country="GB")
    await create_staff(
        email="two@example.com", password="Sturdy-horse-42", company_ids=[company_id, other]
    )
    await login_staff(client, "two@example.com", "Sturdy-horse-42")
    page = await client.get("/admin")
    assert 'id="company-switcher"' in page.text
    response = await client.post(
        "/admin/company",
        data={"_csrf_token": csrf_from(page.text), "company_id": str(other), "next": "/admin"},
    )
    assert response.status_code == 303
    assert "You are working in <strong>Other Corp</strong>" in (await client.get("/admin")).text


async def test_switching_company_on_a_record_page_goes_home(client, company_id):
    other = await create_company("Other Corp", currency="GBP", country="GB")
    await create_staff(
        email="two@example.com", password="Sturdy-horse-42", company_ids=[company_id, other]
    )
    await login_staff(client, "two@example.com", "Sturdy-horse-42")
    page = await client.get("/admin")
    data = {
        "_csrf_token": csrf_from(page.text),
        "company_id": str(other),
        "next": "/admin/clients/12",
    }
    assert (await client.post("/admin/company", data=data)).headers["location"] == "/admin"
    data = {**data, "next": "/admin/tools/outbox?page=2"}
    assert (await client.post("/admin/company", data=data)).headers[
        "location"
    ] == "/admin/tools/outbox?page=2"


async def test_internationalization_limits_the_languages_offered(admin_client, company_id):
    from clients_helpers import post_add_client

    page = await admin_client.get("/admin/settings/company/general")
    assert page.status_code == 200 and 'id="language-de"' in page.text
    token = csrf_from(page.text)
    refused = await admin_client.post(
        "/admin/settings/company/general",
        data={"_csrf_token": token, "languages": ["en", "es"], "default_language": "de"},
    )
    assert refused.status_code == 422 and "must be one of the enabled languages" in refused.text
    assert (
        await admin_client.post(
            "/admin/settings/company/general", data={"_csrf_token": token, "default_language": "en"}
        )
    ).status_code == 422
    saved = await admin_client.post(
        "/admin/settings/company/general",
        data={"_csrf_token": token, "languages": ["en", "es"], "default_language": "es"},
    )
    assert saved.status_code == 303
    add = await admin_client.get("/admin/clients/add")
    assert '<option value="es" selected>Español</option>' in add.text
    assert 'value="de"' not in add.text.split('id="language"')[1].split("</select>")[0]
    german = await post_add_client(admin_client, language="de")
    assert german.status_code == 422 and "Choose a language from the list." in german.text
    assert (await post_add_client(admin_client, language="es")).status_code == 303
