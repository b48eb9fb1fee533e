"""Static files from memory under fingerprinted names, kept by browsers for a year; pages
compressed for browsers that take it, with the CSRF token masked afresh on every page."""

from __future__ import annotations

import re

from conftest import csrf_from, login_staff
from portal.core.static import asset_url, static_files

CSS = "css/portal.css"


async def test_a_page_names_its_assets_by_fingerprint_and_they_are_kept_for_a_year(client, staff):
    page = await client.get("/admin/login")
    url = asset_url(CSS)
    digest = static_files()[CSS].digest
    assert url == f"/static/css/portal.{digest}.css" and f'href="{url}"' in page.text
    answer = await client.get(url, headers={"accept-encoding": "identity"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"].startswith("text/css")
    assert answer.content == (static_files()[CSS].body)
    assert "set-cookie" not in answer.headers  # no session, no CSRF cookie for a file
    # The plain name works too, revalidated each time.
    plain = await client.get("/static/css/portal.css", headers={"accept-encoding": "identity"})
    assert plain.content == answer.content and "immutable" not in plain.headers["cache-control"]


async def test_a_stale_fingerprint_gets_the_current_file_not_for_keeps(client):
    answer = await client.get("/static/css/portal.0123456789ab.css")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=0, must-revalidate"


async def test_text_assets_go_gzipped_and_revalidate_with_their_etag(client):
    url = asset_url("vendor/htmx-2.0.11.min.js")
    answer = await client.get(url, headers={"accept-encoding": "gzip, br"})
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["vary"] == "accept-encoding"
    assert answer.content == static_files()["vendor/htmx-2.0.11.min.js"].body  # httpx inflates
    again = await client.get(
        url, headers={"accept-encoding": "gzip", "if-none-match": answer.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    # The other encoding is another representation: its ETag does not match.
    other = await client.get(
        url, headers={"accept-encoding": "identity", "if-none-match": answer.headers["etag"]}
    )
    assert other.status_code == 200 and "content-encoding" not in other.headers


async def test_unknown_and_escaping_paths_are_not_found(client):
    for path in ("/static/css/nothing.css", "/static/../portal/app.py", "/static/%2e%2e/README.md"):
        assert (await client.get(path)).status_code == 404, path


async def test_large_pages_go_gzipped_with_a_token_masked_afresh_each_time(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    raw = await client.get("/admin/clients", headers={"accept-encoding": "gzip"})
    assert raw.status_code == 200 and raw.headers.get("content-encoding") == "gzip"
    assert "no-store" in raw.headers["cache-control"]
    first, second = csrf_from(raw.text), csrf_from((await client.get("/admin/clients")).text)
    cookie = client.cookies.get("portal_csrf")
    assert first != second and cookie not in raw.text and re.fullmatch("[0-9a-f]+", first)
    # Either masked token passes; a token with one character changed does not.
    forged = first[:-1] + ("0" if first[-1] != "0" else "1")
    assert (await client.post("/admin/logout", data={"_csrf_token": forged})).status_code == 403
    assert (await client.post("/admin/logout", data={"_csrf_token": first})).status_code == 303


async def test_small_answers_are_not_compressed(client):
    answer = await client.get("/no/such/page", headers={"accept-encoding": "gzip"})
    assert answer.status_code == 404 and "content-encoding" not in answer.headers
