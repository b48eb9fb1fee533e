"""Security headers on every kind of response."""

import pytest


@pytest.mark.parametrize(
    "path", ["/admin/login", "/admin/setup", "/admin", "/static/css/portal.css", "/no/such/page"]
)
async def test_security_headers_everywhere(client, staff, path):
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_error_pages_are_html_with_headers(admin_client):
    response = await admin_client.get("/admin/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_session_cookie_flags(admin_client):
    # The login response set it: HttpOnly and SameSite.
    cookie = next(c for c in admin_client.cookies.jar if c.name == "portal_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite").lower() == "lax"
