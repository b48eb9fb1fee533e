"""Lists offer page numbers and a jump to a page, not only Previous and Next (admin lists,
profile widgets, the client area), in one component."""

from __future__ import annotations

import re

from portal.activity import services as activity
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.core.pagination import Page


def test_the_window_of_page_numbers():
    assert Page.of(1, 10, 35).window() == [1, 2, 3, 4]
    assert Page.of(10, 10, 500).window() == [1, None, 8, 9, 10, 11, 12, None, 50]
    assert Page.of(50, 10, 500).window() == [1, None, 48, 49, 50]
    assert Page.of(4, 10, 500).window() == [1, 2, 3, 4, 5, 6, None, 50]


async def test_a_long_list_has_numbers_and_go_to_page(admin_client, company_id):
    async for transaction in write_transactions():
        async with transaction:
            for number in range(420):
                await activity.record(company_id, SYSTEM, "clients", f"Line {number}.")
    page = await admin_client.get("/admin/tools/activity?page=3")
    assert page.status_code == 200
    assert re.search(r'<span aria-current="page"><span[^>]*>Page </span>3</span>', page.text)
    assert "Page 3 of 9" in page.text
    assert 'aria-label="Page 4"' in page.text and 'aria-label="Page 1"' in page.text
    assert '<label for="page-jump-list">Go to page</label>' in page.text
    form = re.search(r'<form class="page-jump" method="get" action="([^"]*)"', page.text)
    assert form and form.group(1) == "/admin/tools/activity"
    jumped = await admin_client.get("/admin/tools/activity", params={"page": "5"})
    assert "Page 5 of 9" in jumped.text
