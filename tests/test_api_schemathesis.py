"""Schemathesis against a real `portal serve`: generated requests to every /api/v1 operation,
with a valid key that has every permission, pass every one of its checks — no 5xx, responses
that match the schema (status codes, content types, headers, bodies), schema-valid requests
accepted and invalid ones refused, 405 with Allow for undeclared methods, and authentication
enforced (its probes resend requests without the key and with a wrong one). Bounded in examples
so CI stays fast."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from portal.api.permissions import all_api_permissions
from portal.api.services import create_key
from portal.app import create_app
from portal.core.actors import SYSTEM
from server_helpers import PortalServer
from test_mass_mailer_helpers import add_client

# The schema as the portal builds it (the same code serves it at /api/v1/schema/openapi.json).
schema = schemathesis.openapi.from_dict(create_app().openapi_schema.to_schema())


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    with PortalServer(tmp_path_factory.mktemp("api") / "server.log") as server:
        yield server


@pytest.fixture
async def api_key(company_id: int) -> str:
    await add_client(company_id, "Sam", "sam@example.com", opted_in=True)
    return (await create_key(company_id, "schemathesis", all_api_permissions(), SYSTEM))[1]


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_passes_every_check(case, api_server, api_key):
    case.call_and_validate(
        base_url=api_server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )
