"""The client area writes dates and amounts the way the client's language does (Babel): an
invoice dated 2026-03-05 of 1,234.50 EUR reads "05.03.2026" and "1.234,50 €" in German,
"5 mar 2026" and "1.234,50 €" in Spanish, "Mar 5, 2026" and "€1,234.50" in English; the admin
area keeps the company's chosen date format."""

from __future__ import annotations

from datetime import date

import pytest
from test_client_area_records import account, invoice  # noqa: F401 - the fixture

from portal.billing.tables import Invoice
from portal.clients.tables import AccountUser
from test_client_area import PASSWORD, client_login


@pytest.mark.parametrize(
    ("language", "day", "amount"),
    [
        ("en", "Mar 5, 2026", "€1,234.50"),
        ("de", "05.03.2026", "1.234,50\xa0€"),
        ("es", "5 mar 2026", "1.234,50\xa0€"),
    ],
)
async def test_client_area_dates_and_amounts_follow_the_language(
    client,
    company_id,
    account,  # noqa: F811 - the fixture
    language,
    day,
    amount,  # noqa: F811
):
    number = await invoice(company_id, account["ann"], "Big order", "1234.50")
    await Invoice.update({Invoice.date_billed: date(2026, 3, 5)}).where(Invoice.id == number)
    await AccountUser.update({AccountUser.language: language}).where(AccountUser.username == "ann")
    assert (await client_login(client, "ann", PASSWORD)).status_code == 303
    page = await client.get(f"/client/invoices/{number}")
    assert page.status_code == 200
    assert day in page.text
    assert amount in page.text
