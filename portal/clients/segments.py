"""Segments: filters of Browse that staff save under a name and reuse, company-wide. A segment
keeps Browse's filters (client group, country, creation dates, tag) as the query string
Browse's own parser makes of them, so applying it is opening Browse at that address, and the
clients it stands for are always those the same filters find now. The mass mailer offers them
as a recipient filter (`client_condition`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from portal.activity import services as activity
from portal.clients import browse, tags
from portal.clients.limits import refuse_beyond
from portal.clients.tables import Segment
from portal.core.actors import Actor
from portal.core.countries import country_name
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.ids import is_row_id
from portal.core.permissions import CLIENTS_VIEW
from portal.core.unique import taken_as_invalid

NAME = Field("name", "Segment name", 100, required=True)
MAX_SEGMENTS = 200
DUPLICATE_NAME = "The company already has a segment with this name."
NO_FILTERS = "Choose at least one filter before saving the view as a segment."


@dataclass(frozen=True)
class SegmentView:
    id: int
    name: str
    filters: str  # Browse's query string of the filters, without "?"
    description: str  # the filters in words
    created_by: str
    created_at: datetime

    @property
    def url(self) -> str:
        return f"/admin/clients?{self.filters}"


def filters_of(params: Mapping[str, str]) -> str:
    """Browse's filters in `params` (a Browse address's query, or a form), as a segment keeps
    them; ValidationError for filters Browse cannot read."""
    return view_of(params)[0]


def view_of(params: Mapping[str, str]) -> tuple[str, str]:
    """A Browse view's filters (as a segment keeps them) and its tab (a client status);
    ValidationError for filters Browse cannot read."""
    query = browse.read_browse_query(params)
    return query.filters.query_string().removeprefix("?"), query.tab


def query_of(filters: str) -> browse.BrowseQuery:
    """A segment's filters as Browse reads them."""
    return browse.read_browse_query(dict(parse_qsl(filters)))


async def _describer(company_id: int) -> Callable[[str], str]:
    """A function that puts a segment's filters in words, with the company's names."""
    groups = {group["id"]: group["name"] for group in await browse.company_groups(company_id)}
    tag_names = {tag.id: tag.name for tag in await tags.list_tags(company_id)}

    def describe(filters: str) -> str:
        query = query_of(filters)
        parts = []
        if query.group_id:
            parts.append(f"Client Group: {groups.get(query.group_id, '(deleted group)')}")
        if query.country:
            parts.append(f"Country: {country_name(query.country)}")
        if query.created_from:
            parts.append(f"Created from {query.created_from.isoformat()}")
        if query.created_to:
            parts.append(f"Created to {query.created_to.isoformat()}")
        if query.tag_id:
            parts.append(f"Tag: {tag_names.get(query.tag_id, '(deleted tag)')}")
        return " · ".join(parts)

    return describe


async def describe(company_id: int, filters: str) -> str:
    """Browse's `filters` (as a segment keeps them) in words, with the company's names."""
    return (await _describer(company_id))(filters)


async def list_segments(company_id: int, *, described: bool = True) -> list[SegmentView]:
    """The company's segments by name, each with its filters in words (unless not needed:
    Browse lists only their names)."""
    async with read_transaction():
        rows = await Segment.raw(
            "SELECT id, name, filters, created_by, created_at FROM segment "
            "WHERE company = {} ORDER BY lower(name), id",
            company_id,
        )
        describe = await _describer(company_id) if described and rows else _undescribed
    return [_view(row, describe) for row in rows]


def _view(row: dict, describe: Callable[[str], str]) -> SegmentView:
    return SegmentView(
        row["id"],
        row["name"],
        row["filters"],
        describe(row["filters"]),
        row["created_by"],
        row["created_at"],
    )


def _undescribed(filters: str) -> str:
    return ""


async def get_segment(company_id: int, segment_id: int) -> SegmentView:
    if not is_row_id(segment_id):
        raise NotFound()
    row = (
        await Segment.select()
        .where(Segment.id == segment_id, Segment.company == company_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return _view(row, await _describer(company_id))


async def save_segment(company_id: int, name: str, params: Mapping[str, str], actor: Actor) -> int:
    """Saves Browse's filters in `params` under `name`."""
    actor.require(CLIENTS_VIEW)
    name = " ".join(name.split())
    errors: dict[str, str] = {}
    NAME.check(errors, name)
    if errors:
        raise ValidationError(errors)
    filters = filters_of(params)
    if not filters:
        raise ValidationError({"": NO_FILTERS})
    with taken_as_invalid("segment_company_name", {"name": DUPLICATE_NAME}):
        async for transaction in write_transactions():
            async with transaction:
                await refuse_beyond(Segment, company_id, MAX_SEGMENTS, "segments")
                rows = await Segment.insert(
                    Segment(
                        company=company_id,
                        name=name,
                        filters=filters,
                        created_by=(actor.name or actor.label)[:201],
                    )
                ).returning(Segment.id)
                await activity.record(
                    company_id, actor, "clients", f"Saved the segment {name} ({filters})."
                )
    return rows[0]["id"]


async def delete_segment(company_id: int, segment_id: int, actor: Actor) -> None:
    actor.require(CLIENTS_VIEW)
    async for transaction in write_transactions():
        async with transaction:
            segment = await get_segment(company_id, segment_id)
            await Segment.delete().where(Segment.id == segment_id, Segment.company == company_id)
            await activity.record(
                company_id, actor, "clients", f"Deleted the segment {segment.name}."
            )


async def client_condition(company_id: int, segment_id: int) -> tuple[str, list[Any]]:
    """SQL true of the company's clients (table `client` as `c`) that the segment finds now,
    with its parameters; NotFound when the company has no such segment (any more)."""
    segment = await get_segment(company_id, segment_id)
    return filters_condition(company_id, segment.filters)


def filters_condition(company_id: int, filters: str) -> tuple[str, list[Any]]:
    """SQL true of the company's clients (table `client` as `c`) that Browse's `filters` (a
    query string, as a segment keeps them) find, whatever their status, with its parameters;
    ValidationError for filters Browse cannot read."""
    conditions, args = browse.filter_conditions(company_id, query_of(filters))
    return "(" + " AND ".join(conditions) + ")", args
