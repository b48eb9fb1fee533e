"""How many of a thing its staff name and keep (tags, segments) a company may have."""

from __future__ import annotations

from piccolo.table import Table

from portal.core.errors import ValidationError


async def refuse_beyond(table: type[Table], company_id: int, most: int, things: str) -> None:
    """In the write transaction that adds a row to `table` (the company's `things`, by its
    `company` column): refused when the company has `most` already."""
    if await table.count().where(table.company == company_id) >= most:
        raise ValidationError({"": f"A company has at most {most} {things}: delete one first."})
