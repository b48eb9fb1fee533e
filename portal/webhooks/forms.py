"""The endpoint form of [Settings] > [Company] > Webhooks, read into the services' details."""

from __future__ import annotations

from portal.core.forms import FormValues, checkbox, many, text
from portal.webhooks.services import EndpointDetails


def endpoint_details_of(data: FormValues) -> EndpointDetails:
    return EndpointDetails(
        url=text(data, "url"),
        description=text(data, "description"),
        event_types=many(data, "event_types"),
        enabled=checkbox(data, "enabled"),
    )
