"""The mass mailer's part of the JSON API (mounted under /api/v1 behind the API key and
permission checks): the opted-in clients an external mailer may mail (marketing.read), and the
unsubscribes and bounces it reports (marketing.write)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
import pycountry
from litestar import Request, get, post
from litestar.params import JSONBody, KwargDefinition, Parameter

from portal.api.conventions import ApiKeyParam, Cursor, Limit, bad_request
from portal.api.schemas import OptIn, OptInPage, UnsubscribeRequest, UnsubscribeResult
from portal.core.errors import ValidationError
from portal.core.i18n import LANGUAGES
from portal.core.ids import MAX_ID
from portal.core.rows import from_row
from portal.core.web import client_address
from portal.plugins.mass_mailer import MARKETING_READ, MARKETING_WRITE, services
from portal.plugins.mass_mailer.services import MailingFilter

Status = Literal["active", "inactive", "fraud"]
# What the filters accept is what the schema says, exactly: ids of rows, the languages the portal
# speaks, the ISO 3166-1 country codes (either case).
GroupId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID), KwargDefinition(ge=1, le=MAX_ID)]
Language = Literal[tuple(LANGUAGES)]  # type: ignore[valid-type]
Country = Literal[
    tuple(code for c in pycountry.countries for code in (c.alpha_2, c.alpha_2.lower()))
]  # type: ignore[valid-type]


@get(
    "/marketing/opt-ins",
    summary="List opted-in clients and contacts",
    tags=["marketing"],
    permission=MARKETING_READ,
)
async def opt_ins(
    api_key: ApiKeyParam,
    cursor: Cursor = 0,
    limit: Limit = 100,
    group: Annotated[list[GroupId] | None, Parameter(description="Client group ids.")] = None,
    status: Annotated[
        list[Status] | None, Parameter(description="Client statuses (default: active).")
    ] = None,
    language: Annotated[list[Language] | None, Parameter(description="Language codes.")] = None,
    country: Annotated[list[Country] | None, Parameter(description="ISO 3166-1 codes.")] = None,
    created_from: Annotated[date | None, Parameter(description="Created on or after.")] = None,
    created_to: Annotated[date | None, Parameter(description="Created on or before.")] = None,
) -> OptInPage:
    """Who may get marketing email, with the same filters as the Mass Mailer's (which select
    clients): the primary contact of each client who opted in, and each billing or other
    contact of those clients who opted in itself (`contact_id`, `contact_type`), whose address
    is not suppressed (unsubscribed or bounced). By client id, a client's primary contact
    first; one row per person, not per address: several may share one. A page never splits a
    client's rows: it ends before a client that would not fit, so it holds at most `limit`
    rows unless one client alone has more."""
    mailing_filter = MailingFilter(
        kind="marketing",
        group_ids=sorted(set(group or [])),
        statuses=sorted(set(status or ["active"])),
        languages=sorted(set(language or [])),
        countries=sorted({c.upper() for c in country or []}),
        created_from=created_from,
        created_to=created_to,
    )
    if errors := services.check_filter(mailing_filter):
        raise bad_request(ValidationError(errors))
    rows, next_cursor = await services.opted_in_page(
        api_key.company_id, mailing_filter, cursor, limit
    )
    return OptInPage(items=[from_row(OptIn, row) for row in rows], next_cursor=next_cursor)


@post(
    "/marketing/unsubscribe",
    summary="Report unsubscribes or bounces",
    tags=["marketing"],
    status_code=200,
    permission=MARKETING_WRITE,
)
async def report_unsubscribes(
    api_key: ApiKeyParam, request: Request, data: JSONBody[UnsubscribeRequest]
) -> UnsubscribeResult:
    """Suppresses the addresses for the company's marketing mail and opts out every client
    with one of them as primary address, and every billing or other contact with one of them
    that had opted in itself, writing a consent record for each (actor "api-key:<id>", source
    "api-unsubscribe" or "api-bounce"); `clients_opted_out` counts the clients. All or
    nothing: one invalid address refuses the request."""
    try:
        result = await services.suppress_addresses(
            api_key.company_id,
            list(data.emails),
            data.reason,
            api_key.actor(client_address(request)),
            f"api-{data.reason}",
        )
    except ValidationError as error:
        raise bad_request(error, in_body=True) from None
    return UnsubscribeResult(
        suppressed=result.suppressed, clients_opted_out=result.clients_opted_out
    )


api_handlers = [opt_ins, report_unsubscribes]
