"""The HTTP side of a button that does one thing (disable, remove, delete …) and goes back to
the page it was on, for the controllers of every area."""

from __future__ import annotations

from collections.abc import Awaitable

from litestar import Request, Response
from litestar.plugins.flash import flash

from portal.core.errors import ValidationError
from portal.core.web import redirect


async def act(request: Request, action: Awaitable[object], done: str, back: str) -> Response:
    """Awaits `action`; flashes its refusal (the message of the ValidationError it raised, e.g.
    "the last administrator…") as an error, or `done` as a success; then back to `back`."""
    try:
        await action
    except ValidationError as error:
        flash(request, next(iter(error.errors.values())), category="error")
    else:
        flash(request, done, category="success")
    return redirect(request, back)
