"""[Settings] > [Company] > General and [Settings] > [System] > Companies over HTTP: the
company's details and sender, its logo (checked by content, bounded, served with long cache
headers), the currencies it accepts (and only those offered or taken anywhere), dates in its
time zone and format, its name and logo in the headers and every email, and adding companies."""

from __future__ import annotations

import email
import email.policy
import io
import re
import zlib
from datetime import UTC, datetime

import pytest
from activity_helpers import OTHER_PASSWORD, another_browser, staff_in_group
from PIL import Image

from clients_helpers import post_add_client
from conftest import csrf_from, login_staff
from portal.activity.tables import ActivityEvent
from portal.billing import services as billing
from portal.billing.tables import Invoice
from portal.clients.tables import Client, ClientNote
from portal.companies import services as companies
from portal.companies.tables import Company, CompanyLogo, CompanySetting
from portal.core.actors import SYSTEM
from portal.mail import services as mail
from portal.mail.tables import MailMessage
from portal.plugins.mass_mailer import services as mailer
from portal.plugins.mass_mailer.messages import Compose, compile_message, render
from portal.staff.tables import StaffCompany
from profile_helpers import accept_currencies, make_client

GENERAL = "/admin/settings/company/general"
COMPANIES = "/admin/settings/system/companies"
DETAILS = {
    "name": "Northwind Hosting",
    "address1": "1 Harbour Road",
    "address2": "Unit 4",
    "city": "Hamburg",
    "country": "DE",
    "state": "DE-HH",
    "zip": "20457",
    "phone": "040 1234567",
    "sender_name": "Northwind Billing",
    "sender_email": "billing@northwind.example",
    "timezone": "Europe/Berlin",
    "date_format": "%d.%m.%Y",
}


def image(image_format: str = "PNG", size: tuple[int, int] = (120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 90, 160)).save(buffer, format=image_format)
    return buffer.getvalue()


async def _post(http, path: str, page: str = GENERAL, **data):
    token = csrf_from((await http.get(page)).text)
    return await http.post(path, data={"_csrf_token": token, **data})


async def _upload(http, content: bytes, filename: str = "logo.png", content_type="image/png"):
    token = csrf_from((await http.get(GENERAL)).text)
    return await http.post(
        f"{GENERAL}/logo",
        data={"_csrf_token": token},
        files={"logo": (filename, content, content_type)},
    )


async def _company(company_id: int) -> dict:
    return await Company.select().where(Company.id == company_id).first()


def _options(html: str, select_id: str) -> list[str]:
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {select_id}"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


# --- company details ----------------------------------------------------------------------


async def test_company_details_are_saved_logged_and_shown(admin_client, company_id):
    page = await admin_client.get(GENERAL)
    assert page.status_code == 200
    for section in ("Company Details", "Logo", "Currencies", "Internationalization"):
        assert f">{section}</h2>" in page.text
    for label in ("Address 1", "Address 2", "City", "Country", "State/Province", "Zip/Postal Code"):
        assert f">{label}</label>" in page.text

    saved = await _post(admin_client, f"{GENERAL}/details", **DETAILS)
    assert saved.status_code == 303 and saved.headers["location"] == GENERAL
    row = await _company(company_id)
    assert {name: row[name] for name in DETAILS if name != "country"} == {
        **{name: value for name, value in DETAILS.items() if name != "country"},
        "phone": "+49 40 1234567",  # formatted
    }
    assert row["default_country"] == "DE"  # the address's country, where new clients start
    line = await ActivityEvent.select().where(ActivityEvent.kind == "settings").first()
    assert line["summary"].startswith("Changed the company's details: Company Name, Address 1")

    page = await admin_client.get(GENERAL)
    assert 'value="Northwind Billing"' in page.text and 'value="+49 40 1234567"' in page.text
    assert '<option value="DE-HH" selected>Hamburg</option>' in page.text
    assert '<option value="Europe/Berlin" selected>' in page.text
    # The header names the company.
    assert '<a class="brand" href="/admin">Northwind Hosting</a>' in page.text
    # New clients start in the company's country.
    add = await admin_client.get("/admin/clients/add")
    assert '<option value="DE" selected>' in add.text


BAD_DETAILS = [
    ({"name": "  "}, "name", "Company Name is required."),
    ({"city": "x" * 101}, "city", "City is too long (at most 100 characters)."),
    ({"state": "US-NY"}, "state", "This State/Province is not in the chosen country."),
    ({"country": "QQ"}, "country", "Choose a country from the list."),
    ({"phone": "12"}, "phone", "Enter a valid phone number"),
    ({"sender_email": "billing@@example"}, "sender_email", "Enter a valid email address"),
    ({"sender_email": "jürgen@example.de"}, "sender_email", "Enter a valid email address"),
    ({"sender_name": "Evil\r\nBcc: x@example.com"}, "sender_name", "must be one line"),
    ({"timezone": "Mars/Olympus"}, "timezone", "Choose a time zone from the list."),
    ({"date_format": "%s"}, "date_format", "Choose a date format from the list."),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_DETAILS)
async def test_bad_details_get_their_message_and_keep_what_was_typed(
    admin_client, company_id, overrides, field, message
):
    before = await _company(company_id)
    response = await _post(admin_client, f"{GENERAL}/details", **{**DETAILS, **overrides})
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1), response.text[:3000]
    assert 'value="1 Harbour Road"' in response.text  # nothing typed is lost
    assert await _company(company_id) == before


async def test_support_may_not_change_company_settings(admin_client, company_id):
    await staff_in_group(company_id, "sam@example.com", "Support")
    logo_before = await CompanyLogo.count()
    async with another_browser() as support:
        await login_staff(support, "sam@example.com", OTHER_PASSWORD)
        token = csrf_from((await support.get("/admin")).text)
        assert (await support.get(GENERAL)).status_code == 403
        for path, data in (
            (f"{GENERAL}/details", DETAILS),
            (f"{GENERAL}/currencies", {"add_currency": "EUR"}),
            (f"{GENERAL}/logo/remove", {}),
            (GENERAL, {"languages": ["en"], "default_language": "en"}),
        ):
            refused = await support.post(path, data={"_csrf_token": token, **data})
            assert refused.status_code == 403, path
        refused = await support.post(
            f"{GENERAL}/logo",
            data={"_csrf_token": token},
            files={"logo": ("logo.png", image(), "image/png")},
        )
        assert refused.status_code == 403
        assert (await support.get(COMPANIES)).status_code == 403
        refused = await support.post(
            f"{COMPANIES}/add", data={"_csrf_token": token, "name": "Sneaky Ltd"}
        )
        assert refused.status_code == 403
    assert (await _company(company_id))["name"] == "My Company"
    assert await CompanyLogo.count() == logo_before
    assert not await Company.exists().where(Company.name == "Sneaky Ltd")


# --- the logo -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "extension", "media_type"),
    [
        ("PNG", "png", "image/png"),
        ("JPEG", "jpg", "image/jpeg"),
        ("GIF", "gif", "image/gif"),
        ("WEBP", "webp", "image/webp"),
    ],
)
async def test_a_logo_is_stored_and_served_with_long_cache_headers(
    admin_client, company_id, image_format, extension, media_type
):
    content = image(image_format)
    # The name and the declared type do not matter: the content does.
    response = await _upload(admin_client, content, "picture.txt", "application/octet-stream")
    assert response.status_code == 303
    url = f"/logo/{company_id}/1.{extension}"
    page = await admin_client.get("/admin")
    assert f'<img class="brand-logo" src="{url}" alt="">My Company</a>' in page.text

    served = await admin_client.get(url)
    assert served.status_code == 200 and served.content == content
    assert served.headers["content-type"] == media_type
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in served.headers
    # No login needed (emails and the client area's login page show it).
    async with another_browser() as anonymous:
        assert (await anonymous.get(url)).content == content
    line = await ActivityEvent.select().where(ActivityEvent.kind == "settings").first()
    assert line["summary"] == "Uploaded a new logo."


async def test_a_new_logo_gets_a_new_url_and_remove_takes_it_away(admin_client, company_id):
    assert (await _upload(admin_client, image("PNG"))).status_code == 303
    assert (await _upload(admin_client, image("GIF"))).status_code == 303
    assert (await admin_client.get(f"/logo/{company_id}/1.png")).status_code == 404
    assert (await admin_client.get(f"/logo/{company_id}/2.png")).status_code == 404
    assert (await admin_client.get(f"/logo/{company_id}/2.gif")).status_code == 200
    assert await CompanyLogo.count() == 1

    removed = await _post(admin_client, f"{GENERAL}/logo/remove")
    assert removed.status_code == 303
    assert (await admin_client.get(f"/logo/{company_id}/2.gif")).status_code == 404
    assert "brand-logo" not in (await admin_client.get("/admin")).text
    assert await CompanyLogo.count() == 0
    # The next logo does not reuse a URL a browser may have cached.
    assert (await _upload(admin_client, image("PNG"))).status_code == 303
    assert (await admin_client.get(f"/logo/{company_id}/3.png")).status_code == 200
    for bad in ("x.png", "0.png", "99999999999.png", "3", "3.svg", "-1.png"):
        assert (await admin_client.get(f"/logo/{company_id}/{bad}")).status_code == 404, bad


def _bomb() -> bytes:
    """A small PNG that says it is 20,000 × 20,000 pixels (1.2 GB once decoded)."""
    png = image("PNG", (1, 1))
    start = png.index(b"IHDR")
    header = b"IHDR" + (20000).to_bytes(4, "big") * 2 + png[start + 12 : start + 17]
    crc = zlib.crc32(header).to_bytes(4, "big")
    return png[:start] + header + crc + png[start + 21 :]


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)
BAD_LOGOS = [
    (SVG, "logo.svg", "image/svg+xml", "Choose a PNG, JPEG, GIF or WebP image"),
    (b"just some text, not an image", "logo.png", "image/png", "Choose a PNG, JPEG, GIF or WebP"),
    (image("BMP"), "logo.bmp", "image/bmp", "Choose a PNG, JPEG, GIF or WebP image"),
    (image("PNG")[:60], "logo.png", "image/png", "Choose a PNG, JPEG, GIF or WebP image"),
    (image("PNG", (3000, 20)), "wide.png", "image/png", "is 3000×20 pixels; a logo may be"),
    (_bomb(), "bomb.png", "image/png", "has too many pixels; a logo may be at most"),
    (b"", "empty.png", "image/png", "Choose an image file to upload."),
    (b"\x89PNG" + b"\0" * 1_200_000, "big.png", "image/png", "larger than 1 MB"),
]


@pytest.mark.parametrize(("content", "filename", "content_type", "message"), BAD_LOGOS)
async def test_what_is_not_a_small_raster_image_is_refused(
    admin_client, company_id, content, filename, content_type, message
):
    response = await _upload(admin_client, content, filename, content_type)
    assert response.status_code == 422
    error = re.search(r'<p class="field-error" id="logo-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1)
    assert (await _company(company_id))["logo_type"] == ""
    assert await CompanyLogo.count() == 0


async def test_no_file_at_all_is_refused_beside_the_field(admin_client, company_id):
    response = await _post(admin_client, f"{GENERAL}/logo")
    assert response.status_code == 422 and "Choose an image file to upload." in response.text


async def test_a_50_mb_upload_gets_a_clear_413_and_changes_nothing(admin_client, company_id):
    assert (await _upload(admin_client, image())).status_code == 303
    before = await CompanyLogo.select().first()
    response = await _upload(admin_client, b"\x89PNG" + b"\0" * (50 * 1024 * 1024))
    assert response.status_code == 413
    assert "Request too large" in response.text
    assert await CompanyLogo.select().first() == before
    assert (await _company(company_id))["logo_version"] == 1


# --- currencies ---------------------------------------------------------------------------


async def test_until_staff_choose_the_default_and_the_clients_currencies_are_accepted(
    admin_client, company_id
):
    page = await admin_client.get("/admin/clients/add")
    assert _options(page.text, "preferred_currency") == ["USD"]
    # Clients that came with other currencies (an import, data from before): theirs count,
    # apart from codes that are not money.
    ids = [await make_client(company_id) for _ in range(3)]
    await Client.update({Client.preferred_currency: "EUR"}).where(Client.id == ids[0])
    await Client.update({Client.preferred_currency: "XTS"}).where(Client.id == ids[1])
    assert await companies.accepted_currencies(company_id) == ["USD", "EUR"]
    page = await admin_client.get("/admin/clients/add")
    assert _options(page.text, "preferred_currency") == ["USD", "EUR"]
    assert "XTS" not in page.text
    general = await admin_client.get(GENERAL)
    assert 'id="currency-EUR"' in general.text and 'id="currency-XTS"' not in general.text
    addable = _options(general.text, "add_currency")
    assert "GBP" in addable and "EUR" not in addable
    assert not {"XTS", "XXX", "XPT", "XAU"} & set(addable)


async def test_adding_and_removing_currencies_changes_every_picker(admin_client, company_id):
    client_id = await make_client(company_id)
    added = await _post(admin_client, f"{GENERAL}/currencies", add_currency="GBP")
    assert added.status_code == 303
    added = await _post(admin_client, f"{GENERAL}/currencies", add_currency="jpy")
    assert added.status_code == 303
    assert await companies.accepted_currencies(company_id) == ["USD", "GBP", "JPY"]
    line = await ActivityEvent.select().order_by(ActivityEvent.id, ascending=False).first()
    assert line["summary"] == "Set the currencies accepted: GBP, JPY, USD (default USD)."
    base = f"/admin/clients/{client_id}"
    for page in (
        "/admin/clients/add",
        f"{base}/edit",
    ):
        assert _options((await admin_client.get(page)).text, "preferred_currency") == [
            "USD",
            "GBP",
            "JPY",
        ], page
    for page in (f"{base}/invoices/add", f"{base}/payments/add", f"{base}/services/add"):
        assert _options((await admin_client.get(page)).text, "currency") == [
            "USD",
            "GBP",
            "JPY",
        ], page

    assert (await post_add_client(admin_client, preferred_currency="GBP")).status_code == 303
    removed = await _post(admin_client, f"{GENERAL}/currencies", remove_currency="JPY")
    assert removed.status_code == 303
    assert await companies.accepted_currencies(company_id) == ["USD", "GBP"]

    # A new default, then the old one can go (nobody uses it... but a client does).
    default = await _post(admin_client, f"{GENERAL}/currencies", default_currency="GBP")
    assert default.status_code == 303
    assert (await _company(company_id))["default_currency"] == "GBP"
    refused = await _post(admin_client, f"{GENERAL}/currencies", remove_currency="USD")
    assert refused.status_code == 422
    assert "USD cannot be removed: 1 client uses it as Preferred Currency." in refused.text


async def test_a_currency_in_use_cannot_be_removed_and_the_count_is_given(admin_client, company_id):
    await accept_currencies(company_id, "EUR", "GBP")
    ids = [await make_client(company_id, currency="EUR") for _ in range(2)]
    other = await make_client(company_id)
    actor = SYSTEM
    await billing.create_invoice(
        company_id,
        other,
        billing.InvoiceDetails(
            description="Hosting",
            amount="5",
            currency="GBP",
            date_billed="2026-01-01",
            date_due="2026-01-15",
        ),
        actor,
    )
    refused = await _post(admin_client, f"{GENERAL}/currencies", remove_currency="EUR")
    assert refused.status_code == 422
    assert "EUR cannot be removed: 2 clients use it as Preferred Currency." in refused.text
    refused = await _post(admin_client, f"{GENERAL}/currencies", remove_currency="GBP")
    assert refused.status_code == 422
    assert "GBP cannot be removed: 1 unpaid invoice is in it." in refused.text
    assert await companies.accepted_currencies(company_id) == ["USD", "EUR", "GBP"]
    # Once paid (or the clients moved), it can go.
    await Invoice.update({Invoice.status: "paid"}).where(Invoice.client == other)
    await Client.update({Client.preferred_currency: "USD"}).where(Client.id.is_in(ids))
    for code in ("EUR", "GBP"):
        removed = await _post(admin_client, f"{GENERAL}/currencies", remove_currency=code)
        assert removed.status_code == 303
    assert await companies.accepted_currencies(company_id) == ["USD"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"add_currency": "XTS"}, "currencies", "Choose currencies from the list."),
        ({"add_currency": "XYZ"}, "currencies", "Choose currencies from the list."),
        ({"remove_currency": "USD"}, "default_currency", "must be one the company accepts"),
        ({"default_currency": "EUR"}, "default_currency", "must be one the company accepts"),
    ],
)
async def test_forged_currency_settings_are_refused(admin_client, company_id, data, field, message):
    before = await CompanySetting.count()
    response = await _post(admin_client, f"{GENERAL}/currencies", **data)
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1)
    assert await CompanySetting.count() == before
    assert (await _company(company_id))["default_currency"] == "USD"


async def test_a_currency_the_company_does_not_accept_is_refused_everywhere(
    admin_client, company_id
):
    forged = await post_add_client(admin_client, preferred_currency="EUR")
    assert forged.status_code == 422 and "Choose a currency from the list." in forged.text
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    for path, data in (
        (f"{base}/invoices/add", {"description": "x", "amount": "1", "status": "open"}),
        (f"{base}/payments/add", {"amount": "1", "transaction_type": "payment"}),
        (f"{base}/services/add", {"name": "x", "price": "1", "term_months": "1"}),
    ):
        response = await _post(admin_client, path, page=path, currency="EUR", **data)
        assert response.status_code == 422, path
        assert "Choose a currency from the list." in response.text
    assert await Invoice.count() == 0


async def test_a_client_keeps_a_currency_from_before_when_edited(admin_client, company_id):
    client_id = await make_client(company_id)
    await Client.update({Client.preferred_currency: "CHF"}).where(Client.id == client_id)
    await companies.set_currencies(company_id, ["USD", "CHF"], "USD", SYSTEM)
    # Moved on behind the service's back (raw data): the edit form still shows it, and saving
    # keeps it.
    await CompanySetting.update({CompanySetting.value: "USD"}).where(
        CompanySetting.key == companies.CURRENCIES_KEY
    )
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    assert _options(edit.text, "preferred_currency") == ["USD", "CHF"]
    assert '<option value="CHF" selected>' in edit.text


# --- dates in the company's zone and format -----------------------------------------------


async def test_admin_pages_show_dates_in_the_company_zone_and_format(admin_client, company_id):
    client_id = await make_client(company_id)
    late = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    await Client.update({Client.created_at: late}).where(Client.id == client_id)
    await admin_client.post(
        f"/admin/clients/{client_id}/notes/add",
        data={
            "_csrf_token": csrf_from((await admin_client.get("/admin")).text),
            "title": "Called",
            "body": "About the renewal.",
        },
    )
    await ClientNote.update({ClientNote.updated_at: late, ClientNote.created_at: late}).where(
        ClientNote.client == client_id
    )
    profile = await admin_client.get(f"/admin/clients/{client_id}")
    assert '">2026-03-14</time>' in profile.text  # UTC and ISO until the company says

    assert (await _post(admin_client, f"{GENERAL}/details", **DETAILS)).status_code == 303
    profile = await admin_client.get(f"/admin/clients/{client_id}")
    assert '">15.03.2026</time></dd>' in profile.text  # Member since: the next day in Berlin
    notes = await admin_client.get(f"/admin/clients/{client_id}/widgets/notes")
    assert "15.03.2026 00:30 CET" in notes.text
    browse = await admin_client.get("/admin/clients")
    assert ">15.03.2026</time>" in browse.text


async def test_the_outbox_shows_dates_in_the_company_zone(admin_client, company_id):
    await _post(admin_client, f"{GENERAL}/details", **{**DETAILS, "date_format": "%m/%d/%Y"})
    response = await post_add_client(admin_client, send_registration_email="1")
    assert response.status_code == 303
    message = await MailMessage.select().first()
    moment = datetime(2026, 7, 1, 22, 15, tzinfo=UTC)
    await MailMessage.update({MailMessage.created_at: moment}).where(
        MailMessage.id == message["id"]
    )
    outbox = await admin_client.get("/admin/tools/outbox")
    assert "07/02/2026 00:15" in outbox.text  # CEST, summer time
    shown = await admin_client.get(f"/admin/tools/outbox/{message['id']}")
    assert "07/02/2026 00:15 CEST" in shown.text


# --- mail ---------------------------------------------------------------------------------


async def test_mail_comes_from_the_company_sender_with_its_logo_and_name(
    admin_client, company_id, smtp_server
):
    assert (await _upload(admin_client, image())).status_code == 303
    assert (await _post(admin_client, f"{GENERAL}/details", **DETAILS)).status_code == 303
    response = await post_add_client(admin_client, send_registration_email="1")
    assert response.status_code == 303
    message = smtp_server.messages[-1]
    assert message["From"] == "Northwind Billing <billing@northwind.example>"
    assert "@northwind.example>" in message["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    logged = await MailMessage.select().first()
    assert text.replace("\r\n", "\n") == logged["body_text"]  # the text part as it was
    assert logged["from_address"] == "Northwind Billing <billing@northwind.example>"
    html = message.get_body(("html",)).get_content()
    assert f'<img src="http://127.0.0.1:8000/logo/{company_id}/1.png" alt=""' in html
    assert "Northwind Hosting</strong>" in html
    assert "Grace" in html
    assert '<a href="http://127.0.0.1:8000/client/login">' in html  # links work in HTML too


async def test_without_a_sender_mail_comes_from_the_portal_address(
    admin_client, company_id, smtp_server
):
    await Company.update({Company.name: "Tom & <Jerry>"}).where(Company.id == company_id)
    response = await post_add_client(admin_client, send_registration_email="1")
    assert response.status_code == 303
    message = smtp_server.messages[-1]
    assert message["From"].addresses[0].addr_spec == "portal@localhost"
    assert message["From"].addresses[0].display_name == "Tom & <Jerry>"
    html = message.get_body(("html",)).get_content()
    assert "Tom &amp; &lt;Jerry&gt;</strong>" in html and "<img" not in html


async def test_mass_mail_gets_the_sender_and_the_logo_atop_its_html(admin_client, company_id):
    await _upload(admin_client, image())
    await _post(admin_client, f"{GENERAL}/details", **DETAILS)
    client_id = await make_client(company_id, marketing_opt_in=True)
    compose = await admin_client.get(
        "/admin/tools/mass-mailer/compose", params={"kind": "marketing"}
    )
    assert compose.status_code == 200, compose.text[:2000]
    assert 'value="Northwind Billing"' in compose.text
    assert 'value="billing@northwind.example"' in compose.text

    compiled, errors = compile_message(
        Compose(
            from_name="Northwind Billing",
            from_address="billing@northwind.example",
            subject="News",
            body_text="Hello",
            body_html="<html><body class='x'><p>Hello</p></body></html>",
        ),
        "service",
    )
    assert compiled is not None, errors
    header = mail.html_header(await companies.mail_identity(company_id))
    client = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "",
        "email": "ada@example.com",
        "code": str(client_id),
        "language": "en",
        "country": "CA",
    }
    rendered = render(compiled, mailer.template_context(client, "Northwind Hosting", None))
    built = mailer.build_email(
        compiled,
        rendered,
        to="ada@example.com",
        job_id=1,
        recipient_id=1,
        unsubscribe_url=None,
        html_header=header,
    )
    message = email.message_from_bytes(built.data, policy=email.policy.default)
    html_part = message.get_body(("html",)).get_content()
    assert html_part.index("<body class='x'>") < html_part.index(f"/logo/{company_id}/1.png")
    assert html_part.index("Northwind Hosting") < html_part.index("<p>Hello</p>")


# --- the client area ----------------------------------------------------------------------


async def test_the_client_login_page_shows_the_company_name_and_logo(
    admin_client, company_id, second_company
):
    await _upload(admin_client, image())
    async with another_browser() as visitor:
        login = await visitor.get("/client/login")
        assert (
            f'<a class="brand" href="/client/login"><img class="brand-logo" '
            f'src="/logo/{company_id}/1.png" alt="">My Company</a>' in login.text
        )
        other = await visitor.get(f"/client/login?company={second_company}")
        assert '<a class="brand" href="/client/login">Second Company Ltd</a>' in other.text
        for unknown in ("999999", "abc", "-1"):
            page = await visitor.get(f"/client/login?company={unknown}")
            assert page.status_code == 200 and "My Company</a>" in page.text


# --- [Settings] > [System] > Companies ----------------------------------------------------


async def test_adding_a_company_makes_its_creator_an_administrator_there(
    admin_client, staff, company_id
):
    page = await admin_client.get(COMPANIES)
    assert page.status_code == 200 and "My Company" in page.text
    assert 'id="company-switcher"' not in page.text
    form = await admin_client.get(f"{COMPANIES}/add")
    assert _options(form.text, "currency")[:3] == ["AED", "AFN", "ALL"]
    assert "XTS" not in _options(form.text, "currency")
    added = await _post(
        admin_client,
        f"{COMPANIES}/add",
        page=f"{COMPANIES}/add",
        name="Contoso Cloud",
        currency="EUR",
        language="de",
        country="AT",
    )
    assert added.status_code == 303 and added.headers["location"] == COMPANIES
    company = await Company.select().where(Company.name == "Contoso Cloud").first()
    assert (
        company["default_currency"],
        company["default_language"],
        company["default_country"],
    ) == (
        "EUR",
        "de",
        "AT",
    )
    membership = (
        await StaffCompany.select(StaffCompany.staff_group.name)
        .where(StaffCompany.staff == staff["id"], StaffCompany.company == company["id"])
        .first()
    )
    assert membership["staff_group.name"] == "Administrators"
    line = await ActivityEvent.select().where(ActivityEvent.kind == "companies").first()
    assert (line["company"], line["summary"]) == (company["id"], "Added the company Contoso Cloud.")
    assert line["actor_name"] == "Ada Admin"

    page = await admin_client.get(COMPANIES)
    assert "Contoso Cloud" in page.text
    assert re.search(rf'<option value="{company["id"]}">Contoso Cloud</option>', page.text), (
        "the header's company switcher lists it"
    )
    switched = await _post(
        admin_client, "/admin/company", page=COMPANIES, company_id=str(company["id"])
    )
    assert switched.status_code == 303
    assert "Contoso Cloud</a>" in (await admin_client.get(GENERAL)).text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "Company Name is required."),
        ({"currency": "XXX"}, "currency", "Unknown currency"),
        ({"language": "fr"}, "language", "Unknown language"),
        ({"country": "QQ"}, "country", "Unknown country"),
    ],
)
async def test_bad_input_to_add_company_is_refused_and_kept(admin_client, data, field, message):
    form = {"name": "Contoso Cloud", "currency": "EUR", "language": "de", "country": "AT"}
    response = await _post(
        admin_client, f"{COMPANIES}/add", page=f"{COMPANIES}/add", **{**form, **data}
    )
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1)
    assert await Company.count() == 1
    if field != "name":
        assert 'value="Contoso Cloud"' in response.text
