"""Reading the wizard's forms (the filter travels along every step as form fields)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from portal.core.forms import iso_date, text
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter

ID = re.compile(r"[0-9]{1,10}")
# Dates a person means in a filter; the API takes any date (a range past these matches nobody).
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
# Present in every filter form; without it (the first visit) the defaults apply.
SUBMITTED = "filter"


def values(data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _date(data: Mapping[str, Any], name: str, errors: dict[str, str]) -> date | None:
    value = text(data, name)
    if not value:
        return None
    day = iso_date(value)
    if day is None:
        errors[name] = "Enter a date like 2025-01-31."
    elif not EARLIEST <= day <= LATEST:
        errors[name] = "Enter a date between 1970 and 9998."
        day = None
    return day


def read_filter(data: Mapping[str, Any]) -> tuple[MailingFilter, dict[str, str]]:
    """The filter of a submitted form, and what is wrong with it by field."""
    if SUBMITTED not in data:
        return MailingFilter(), {}
    errors: dict[str, str] = {}
    group_values = values(data, "group")
    if any(not ID.fullmatch(value) for value in group_values):
        errors["group_ids"] = "Choose client groups from the list."
    segment = text(data, "segment")
    if segment and not ID.fullmatch(segment):
        errors["segment"] = "Choose a segment from the list."
    # Chosen clients travel as one value ("12,15,31"): one checkbox keeps or drops them all.
    client_values = [value for value in text(data, "clients").split(",") if value]
    if any(not ID.fullmatch(value) for value in client_values):
        errors["client_ids"] = "Choose clients in Clients."
    mailing_filter = MailingFilter(
        kind=text(data, "kind") or "marketing",
        group_ids=sorted({int(v) for v in group_values if ID.fullmatch(v)}),
        statuses=sorted(set(values(data, "status"))),
        languages=sorted(set(values(data, "language"))),
        countries=sorted({v.upper() for v in values(data, "country")}),
        created_from=_date(data, "created_from", errors),
        created_to=_date(data, "created_to", errors),
        segment_id=int(segment) if ID.fullmatch(segment) else None,
        browse_filter=text(data, "browse_filter"),
        client_ids=sorted({int(v) for v in client_values if ID.fullmatch(v)}),
    )
    start, end = mailing_filter.created_from, mailing_filter.created_to
    if start and end and end < start:
        errors["created_to"] = "The end date is before the start date."
    return mailing_filter, errors


def filter_fields(mailing_filter: MailingFilter) -> list[tuple[str, str]]:
    """The filter as (name, value) pairs: hidden inputs in later steps, a query string."""
    f = mailing_filter
    pairs = [(SUBMITTED, "1"), ("kind", f.kind)]
    pairs += [("group", str(group_id)) for group_id in f.group_ids]
    pairs += [("status", status) for status in f.statuses]
    pairs += [("language", language) for language in f.languages]
    pairs += [("country", country) for country in f.countries]
    if f.created_from:
        pairs.append(("created_from", f.created_from.isoformat()))
    if f.created_to:
        pairs.append(("created_to", f.created_to.isoformat()))
    if f.segment_id is not None:
        pairs.append(("segment", str(f.segment_id)))
    if f.browse_filter:
        pairs.append(("browse_filter", f.browse_filter))
    if f.client_ids:
        pairs.append(("clients", ",".join(str(client_id) for client_id in f.client_ids)))
    return pairs


def _body(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def read_compose(data: Mapping[str, Any]) -> Compose:
    """Sender, subject and bodies as typed. Line breaks in the one-line fields are kept, so
    that the service refuses them (header injection) instead of something quietly fixing them."""
    return Compose(
        from_name=_one_line(data, "from_name"),
        from_address=_one_line(data, "from_address"),
        subject=_one_line(data, "subject"),
        body_text=_body(data, "body_text"),
        body_html=_body(data, "body_html"),
    )


def _one_line(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip(" \t")
