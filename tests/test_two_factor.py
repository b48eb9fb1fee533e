"""Two-factor sign-in over HTTP, for staff and for client-area users: enrolment with a code,
recovery codes shown once and single-use, codes never accepted twice, throttling, turning it
off with password and code, and the company's and the group's requirement."""

from __future__ import annotations

import pytest
from security_helpers import code, enrol, post_form
from test_cli import portal

from conftest import STAFF_PASSWORD, csrf_from, login_staff
from portal.client_groups import services as groups
from portal.core.actors import SYSTEM
from portal.security.tables import RecoveryCode, TwoFactor
from test_client_area import PASSWORD, client_login, make_client


async def staff_password_step(http, email: str, password: str = STAFF_PASSWORD):
    page = await http.get("/admin/login")
    return await http.post(
        "/admin/login",
        data={"_csrf_token": csrf_from(page.text), "email": email, "password": password},
    )


async def second_step(http, prefix: str, value: str):
    page = await http.get(f"{prefix}/login/two-factor")
    assert page.status_code == 200, page.text
    return await http.post(
        f"{prefix}/login/two-factor", data={"_csrf_token": csrf_from(page.text), "code": value}
    )


async def log_out(http, prefix: str) -> None:
    page = await http.get(f"{prefix}/login")
    await http.post(f"{prefix}/logout", data={"_csrf_token": csrf_from(page.text)})


async def test_staff_enrol_sign_in_with_code_then_recovery_code(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    secret, codes = await enrol(client, "/admin")
    overview = await client.get("/admin/security")
    assert "On." in overview.text and "10 recovery codes left." in overview.text
    # The secret is kept encrypted, the recovery codes as hashes.
    row = await TwoFactor.select().first()
    assert secret not in row["secret"] and row["enabled_at"] is not None
    stored = [r["code_hash"] for r in await RecoveryCode.select(RecoveryCode.code_hash)]
    assert not set(codes) & set(stored)
    await log_out(client, "/admin")

    # The password alone now leads to the second step, not into the admin area.
    first = await staff_password_step(client, staff["email"])
    assert first.status_code == 303 and first.headers["location"] == "/admin/login/two-factor"
    assert (await client.get("/admin")).status_code == 302
    wrong = await second_step(client, "/admin", "000000" if code(secret) != "000000" else "111111")
    assert wrong.status_code == 400 and "That code is not right" in wrong.text
    fresh = code(secret, steps_ahead=1)  # not the one the enrolment used
    signed_in = await second_step(client, "/admin", fresh)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin"
    assert (await client.get("/admin")).status_code == 200
    await log_out(client, "/admin")

    # The same code a second time is refused: it was used in its window.
    await staff_password_step(client, staff["email"])
    replayed = await second_step(client, "/admin", fresh)
    assert replayed.status_code == 400
    # A lost phone: a recovery code signs in once.
    recovered = await second_step(client, "/admin", codes[0].upper())
    assert recovered.status_code == 303
    assert "10 recovery codes" not in (await client.get("/admin/security")).text
    assert "9 recovery codes left." in (await client.get("/admin/security")).text
    await log_out(client, "/admin")
    await staff_password_step(client, staff["email"])
    again = await second_step(client, "/admin", codes[0])
    assert (
        again.status_code == 400 and "recovery code is not right or was already used" in again.text
    )


async def test_codes_are_throttled_like_passwords(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    secret, _ = await enrol(client, "/admin")
    await log_out(client, "/admin")
    await staff_password_step(client, staff["email"])
    wrong = "123456" if code(secret) != "123456" else "654321"
    statuses = [(await second_step(client, "/admin", wrong)).status_code for _ in range(6)]
    assert statuses[:5] == [400] * 5 and statuses[5] == 429
    # Even the right code waits now.
    assert (await second_step(client, "/admin", code(secret, 1))).status_code == 429


async def test_turning_off_needs_password_and_code_and_regenerating_voids_old_codes(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    secret, codes = await enrol(client, "/admin")
    renewed = await post_form(client, "/admin/security", "/admin/security/recovery-codes")
    new_codes = renewed.text
    assert renewed.status_code == 200 and codes[0] not in new_codes
    assert await RecoveryCode.count() == 10

    bad_password = await post_form(
        client,
        "/admin/security",
        "/admin/security/two-factor/disable",
        password="Wrong-horse-1",
        code=code(secret, 1),
    )
    assert (
        bad_password.status_code == 422 and "current password is not correct" in bad_password.text
    )
    bad_code = await post_form(
        client,
        "/admin/security",
        "/admin/security/two-factor/disable",
        password=STAFF_PASSWORD,
        code="abc",
    )
    assert bad_code.status_code == 422
    assert await TwoFactor.count() == 1
    off = await post_form(
        client,
        "/admin/security",
        "/admin/security/two-factor/disable",
        password=STAFF_PASSWORD,
        code=code(secret, 1),
    )
    assert off.status_code == 303
    assert await TwoFactor.count() == 0 and await RecoveryCode.count() == 0
    await log_out(client, "/admin")
    assert (await staff_password_step(client, staff["email"])).headers["location"] == "/admin"


async def test_a_company_requiring_two_factor_makes_staff_enrol_first(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    saved = await post_form(
        client,
        "/admin/settings/system/staff",
        "/admin/settings/system/staff/two-factor",
        required="1",
    )
    assert saved.status_code == 303
    await log_out(client, "/admin")
    await login_staff(client, staff["email"], staff["password"])
    for path in ("/admin", "/admin/clients", "/admin/settings/system/staff"):
        blocked = await client.get(path)
        assert blocked.status_code == 303, path
        assert blocked.headers["location"] == "/admin/security/two-factor"
    await enrol(client, "/admin")
    assert (await client.get("/admin/clients")).status_code == 200


async def test_client_group_requiring_two_factor_and_client_sign_in(client, company_id):
    group = await groups.default_group_id(company_id)
    await groups.set_group_settings(company_id, group, {"require_two_factor": "true"}, SYSTEM)
    await make_client(username="ann")
    signed_in = await client_login(client, "ann")
    assert signed_in.status_code == 303
    forced = await client.get("/client/invoices")
    assert forced.status_code == 303
    assert forced.headers["location"] == "/client/security/two-factor"
    secret, codes = await enrol(client, "/client")
    assert (await client.get("/client")).status_code == 200
    await log_out(client, "/client")

    first = await client_login(client, "ann")
    assert first.headers["location"] == "/client/login/two-factor"
    done = await second_step(client, "/client", code(secret, 1))
    assert done.status_code == 303 and done.headers["location"] == "/client"
    assert (await client.get("/client")).status_code == 200


@pytest.mark.parametrize("prefix", ["/admin", "/client"])
async def test_second_step_without_a_password_step_goes_back_to_login(client, prefix):
    page = await client.get(f"{prefix}/login/two-factor")
    assert page.status_code == 303 and page.headers["location"] == f"{prefix}/login"


async def test_client_password_change_is_throttled_and_ends_other_sessions(client, company_id):
    await make_client(username="ann")
    await client_login(client, "ann")
    for _ in range(5):
        wrong = await post_form(
            client,
            "/client/password",
            "/client/password",
            current_password="Wrong-horse-1",
            new_password="Another-horse-77",
        )
        assert wrong.status_code == 422
    throttled = await post_form(
        client,
        "/client/password",
        "/client/password",
        current_password=PASSWORD,
        new_password="Another-horse-77",
    )
    assert throttled.status_code == 429


async def test_a_code_of_an_earlier_window_is_refused(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    secret, _ = await enrol(client, "/admin")
    await log_out(client, "/admin")
    await staff_password_step(client, staff["email"])
    expired = await second_step(client, "/admin", code(secret, steps_ahead=-3))
    assert expired.status_code == 400
    assert (await second_step(client, "/admin", "")).status_code == 400
    assert (await second_step(client, "/admin", "x" * 10_000)).status_code == 400


async def test_the_command_line_resets_a_locked_out_staff_members_two_factor(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    await enrol(client, "/admin")
    result = portal("staff", "reset-two-factor", "--email", staff["email"].upper())
    assert result.returncode == 0, result.stderr
    assert await TwoFactor.count() == 0
    assert (await client.get("/admin")).status_code == 302  # its sessions ended
    again = portal("staff", "reset-two-factor", "--email", staff["email"])
    assert again.returncode == 2 and "does not use two-factor" in again.stderr + again.stdout
    unknown = portal("staff", "reset-two-factor", "--email", "nobody@example.com")
    assert unknown.returncode == 2 and "No staff member" in unknown.stderr + unknown.stdout


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/client/login", {"identifier": "ann\x00", "password": "x\x00"}),
        ("/client/forgot-password", {"identifier": "ann\x00@example.com"}),
        ("/admin/login", {"email": "a\x00@example.com", "password": "x"}),
    ],
)
async def test_nul_bytes_in_sign_in_forms_get_an_answer_not_an_error(client, staff, path, fields):
    page = await client.get(path)
    response = await client.post(path, data={"_csrf_token": csrf_from(page.text), **fields})
    assert response.status_code in {200, 400, 422}, response.text[:500]
