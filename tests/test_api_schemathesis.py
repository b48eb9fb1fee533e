"""Schemathesis against the ASGI app: generated requests to every /api/v1 operation, with a
valid key, never get a 5xx. Bounded in examples so CI stays fast."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from test_mass_mailer_helpers import add_client

from portal.api.services import create_key
from portal.app import create_app

APP = create_app()
schema = schemathesis.openapi.from_dict(APP.openapi_schema.to_schema())


@pytest.fixture
async def api_key(company_id: int) -> str:
    await add_client(company_id, "Sam", "sam@example.com", opted_in=True)
    return (await create_key(company_id, "schemathesis"))[1]


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
async def test_api_never_answers_with_a_server_error(case, api_key):
    kwargs = case.as_transport_kwargs(
        base_url="http://testserver.local", headers={"Authorization": f"Bearer {api_key}"}
    )
    kwargs.pop("cookies", None)  # the API reads none
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")  # raw bodies, for httpx
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP)) as http:
        response = await http.request(**kwargs)
    case.validate_response(response, checks=[not_a_server_error])
