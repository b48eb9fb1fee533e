"""How each staff member arranges a page's widgets, per company: their order and which are
minimized. One row per (staff member, company, page); the page's own module names its widgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from portal.core.errors import ValidationError
from portal.staff.tables import StaffWidgetState

UPSERT = (
    "INSERT INTO staff_widget_state (staff, company, key, widget_order, minimized, updated_at) "
    "VALUES ({}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (staff, company, key) DO UPDATE SET widget_order = excluded.widget_order, "
    "minimized = excluded.minimized, updated_at = excluded.updated_at"
)


@dataclass(frozen=True)
class WidgetState:
    order: tuple[str, ...]
    minimized: frozenset[str]


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def arrange(known: tuple[str, ...], order: list[str], minimized: list[str]) -> WidgetState:
    """A state from names: known widgets missing from `order` follow in their default order.
    Raises ValidationError for names that are not widgets of the page, or repeated ones."""
    unknown = sorted({name for name in [*order, *minimized] if name not in known})
    if unknown:
        raise ValidationError(
            {
                "order": f"Unknown widget {', '.join(repr(n[:40]) for n in unknown[:5])}: "
                f"the widgets are {', '.join(known)}."
            }
        )
    if len(set(order)) != len(order):
        raise ValidationError({"order": "A widget is named twice in the order."})
    full = tuple(order) + tuple(name for name in known if name not in order)
    return WidgetState(order=full, minimized=frozenset(minimized))


async def get_state(
    staff_id: int, company_id: int, key: str, known: tuple[str, ...]
) -> WidgetState:
    """The saved state, or the default (every widget, expanded, in the page's order). Widgets
    saved once but no longer offered are dropped; new ones join at the end."""
    row = (
        await StaffWidgetState.select(StaffWidgetState.widget_order, StaffWidgetState.minimized)
        .where(
            StaffWidgetState.staff == staff_id,
            StaffWidgetState.company == company_id,
            StaffWidgetState.key == key,
        )
        .first()
    )
    if row is None:
        return WidgetState(order=known, minimized=frozenset())
    order = [name for name in dict.fromkeys(_names(row["widget_order"])) if name in known]
    minimized = [name for name in _names(row["minimized"]) if name in known]
    return arrange(known, order, minimized)


async def save_state(
    staff_id: int, company_id: int, key: str, known: tuple[str, ...], state: WidgetState
) -> None:
    arrange(known, list(state.order), sorted(state.minimized))  # checks the names again
    await StaffWidgetState.raw(
        UPSERT,
        staff_id,
        company_id,
        key,
        ",".join(state.order),
        ",".join(name for name in state.order if name in state.minimized),
        datetime.now(UTC),
    )


def parse_names(value: str, limit: int = 50) -> list[str]:
    """Comma-separated names as submitted; more than `limit` is refused as unknown input."""
    names = _names(value or "")
    if len(names) > limit:
        raise ValidationError({"order": "Too many widget names."})
    return names
