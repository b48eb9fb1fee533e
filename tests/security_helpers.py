"""Helpers of the account security tests: enrolling two-factor over HTTP and computing codes
from the secret the page shows, as an authenticator app would."""

from __future__ import annotations

import re
import time

import httpx
import pyotp

from conftest import csrf_from

SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)<')
RECOVERY_CODE = re.compile(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>")


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current time step, or of one a step or more later (the portal accepts the
    next step too, for clocks that drift): a test can sign in again without waiting 30 s for a
    code it has not used yet."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def enrol(http: httpx.AsyncClient, prefix: str) -> tuple[str, list[str]]:
    """Turns two-factor on for the logged-in login of `prefix` ("/admin", "/client"): the secret
    and the recovery codes shown."""
    page = await http.get(f"{prefix}/security/two-factor")
    assert page.status_code == 200, page.text
    secret = SECRET.search(page.text).group(1).replace(" ", "")
    done = await http.post(
        f"{prefix}/security/two-factor",
        data={"_csrf_token": csrf_from(page.text), "code": code(secret)},
    )
    assert done.status_code == 200, done.text
    codes = RECOVERY_CODE.findall(done.text)
    assert len(codes) == 10
    return secret, codes


async def post_form(http: httpx.AsyncClient, page_path: str, action: str, **fields: str):
    """Posts `fields` to `action` with the CSRF token of the page at `page_path`."""
    page = await http.get(page_path)
    return await http.post(action, data={"_csrf_token": csrf_from(page.text), **fields})
