"""Schemathesis against a real `portal serve`: generated requests to every /api/v1 operation,
the writes included, with a valid key that has every permission, pass every one of its checks —
no 5xx, responses that match the schema (status codes, content types, headers, bodies),
schema-valid requests accepted and invalid ones refused, 405 with Allow for undeclared methods,
and authentication enforced (its probes resend requests without the key and with a wrong one).
Bounded in examples so CI stays fast."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from portal.api.permissions import all_api_permissions
from portal.api.services import create_key
from portal.app import create_app
from portal.core.actors import SYSTEM
from server_helpers import PortalServer
from test_mass_mailer_helpers import add_client

# What the schema cannot say, told to the checks. A request the schema allows may still break
# a rule of the data (a phone number that does not exist, an email already in use: 422), or
# name an ETag in If-Match that was never given out (412; schemathesis draws it). Without the
# required If-Match a change is refused with 428 Precondition Required (RFC 6585), the status
# for exactly that.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "412", "422"]
            },
            "missing_required_header": {
                "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
            },
        }
    }
)
# The schema as the portal builds it (the same code serves it at /api/v1/schema/openapi.json).
schema = schemathesis.openapi.from_dict(create_app().openapi_schema.to_schema(), config=CONFIG)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    with PortalServer(tmp_path_factory.mktemp("api") / "server.log") as server:
        yield server


@pytest.fixture
async def sam(company_id: int) -> int:
    return await add_client(company_id, "Sam", "sam@example.com", opted_in=True)


@pytest.fixture
async def api_key(company_id: int, sam: int) -> str:
    return (await create_key(company_id, "schemathesis", all_api_permissions(), SYSTEM))[1]


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_passes_every_check(case, api_server, api_key, sam):
    # Schema-valid requests go to a client that exists, so that the writes are carried out
    # (drawn ids are almost never one); invalid ones keep what was drawn.
    if (
        case.meta is not None
        and case.meta.generation.mode.is_positive
        and "client_id" in (case.path_parameters or {})
    ):
        case.path_parameters["client_id"] = sam
    case.call_and_validate(
        base_url=api_server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )
