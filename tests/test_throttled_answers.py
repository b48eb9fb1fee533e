"""Every sign-in route the throttle refuses answers the same way: 429 with Retry-After (the
seconds to wait, at least one), on the page of the form as it was (the message shown, what was
typed kept, passwords aside) — staff and client area alike, token links already did."""

from __future__ import annotations

import httpx
import pytest
from security_helpers import SECRET, code, enrol, post_form
from test_two_factor import log_out, second_step, staff_password_step

from conftest import csrf_from, login_staff
from test_client_area import client_login, make_client

STAFF_THROTTLED = "Too many failed attempts. Wait 15 minutes and try again."
THROTTLED = "Too many attempts. Wait 15 minutes and try again."
WRONG_PASSWORD = "Wrong-horse-1"  # noqa: S105 - a test credential


def assert_throttled(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["retry-after"]) >= 1


async def log_in(http: httpx.AsyncClient, prefix: str, staff: dict) -> None:
    """Signs in to the area of `prefix`: the staff member, or a client user "ann"."""
    if prefix == "/admin":
        await login_staff(http, staff["email"], staff["password"])
    else:
        await make_client(username="ann")
        assert (await client_login(http, "ann")).status_code == 303


def wrong_code(secret: str) -> str:
    """A code no step the portal accepts now has."""
    accepted = {code(secret, step) for step in (-1, 0, 1)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in accepted)


async def test_client_login(client, staff):
    await make_client(username="ann")
    for _ in range(5):
        assert (await client_login(client, "ann", WRONG_PASSWORD)).status_code == 400
    refused = await client_login(client, "ann")
    assert_throttled(refused)
    assert THROTTLED in refused.text and 'value="ann"' in refused.text


async def test_staff_login(client, staff):
    for _ in range(5):
        wrong = await staff_password_step(client, staff["email"], WRONG_PASSWORD)
        assert wrong.status_code == 400
    refused = await staff_password_step(client, staff["email"])
    assert_throttled(refused)
    assert STAFF_THROTTLED in refused.text and f'value="{staff["email"]}"' in refused.text


@pytest.mark.parametrize(
    ("path", "field", "value", "message"),
    [
        ("/client/forgot-password", "identifier", "ann", THROTTLED),
        ("/client/forgot-username", "email", "ann@example.com", THROTTLED),
        ("/admin/forgot-password", "email", "admin@example.com", STAFF_THROTTLED),
    ],
)
async def test_mail_requests(client, staff, path, field, value, message):
    await make_client(username="ann")
    for _ in range(3):
        assert (await post_form(client, path, path, **{field: value})).status_code == 200
    refused = await post_form(client, path, path, **{field: value})
    assert_throttled(refused)
    assert message in refused.text and f'value="{value}"' in refused.text


@pytest.mark.parametrize("prefix", ["/admin", "/client"])
async def test_second_step_of_a_sign_in(client, staff, prefix):
    await log_in(client, prefix, staff)
    secret, _ = await enrol(client, prefix)
    await log_out(client, prefix)
    if prefix == "/admin":
        await staff_password_step(client, staff["email"])
    else:
        await client_login(client, "ann")
    for _ in range(5):
        assert (await second_step(client, prefix, wrong_code(secret))).status_code == 400
    refused = await second_step(client, prefix, code(secret, 1))
    assert_throttled(refused)
    assert THROTTLED in refused.text


@pytest.mark.parametrize("prefix", ["/admin", "/client"])
async def test_two_factor_enrolment(client, staff, prefix):
    await log_in(client, prefix, staff)
    setup = f"{prefix}/security/two-factor"
    secret = SECRET.search((await client.get(setup)).text).group(1).replace(" ", "")
    for _ in range(5):
        wrong = await post_form(client, setup, setup, code=wrong_code(secret))
        assert wrong.status_code == 422
    # Even the right code waits now; the page is shown again, the message beside the field.
    refused = await post_form(client, setup, setup, code=code(secret))
    assert_throttled(refused)
    assert THROTTLED in refused.text and SECRET.search(refused.text)


@pytest.mark.parametrize("area", ["client", "admin"])
async def test_passkey_sign_in(client, staff, area):
    token = csrf_from((await client.get(f"/{area}/login")).text)

    async def sign_in() -> httpx.Response:
        return await client.post(
            f"/{area}/login/passkey", data={"credential": "{}"}, headers={"x-csrftoken": token}
        )

    for _ in range(20):  # passkeys.SIGN_IN_LIMITS.per_pair
        assert (await sign_in()).status_code == 400
    refused = await sign_in()
    assert_throttled(refused)
    assert refused.json()["error"] == THROTTLED


@pytest.mark.parametrize("prefix", ["/admin", "/client"])
async def test_confirm_it_is_you(client, staff, prefix):
    await log_in(client, prefix, staff)
    confirm = f"{prefix}/confirm"
    for _ in range(5):
        wrong = await post_form(client, confirm, confirm, password=WRONG_PASSWORD)
        assert wrong.status_code == 422
    refused = await post_form(client, confirm, confirm, password=staff["password"])
    assert_throttled(refused)
    assert THROTTLED in refused.text
