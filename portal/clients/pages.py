"""The admin area's pages about one client: the profile's address, and the forms and
confirmations whose title names the client."""

from __future__ import annotations

from typing import Any

from litestar.response import Template

from portal.clients.services import ClientView


def profile_url(client_id: int, anchor: str = "") -> str:
    return f"/admin/clients/{client_id}" + (f"#{anchor}" if anchor else "")


def client_page(
    template: str,
    title: str,
    client: ClientView,
    errors: dict[str, str],
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A page about `client` (`template`, with `context`): its title ends with the client's
    name."""
    return Template(
        template,
        context={
            "page_title": f"{title} – {client.name}",
            "client": client,
            "errors": errors,
            **context,
        },
        status_code=status_code,
    )
