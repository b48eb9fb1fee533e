"""`portal api-key create`: a key for the JSON API, printed once."""

from __future__ import annotations

import click

from portal.api.permissions import ALL, api_catalog, parse_list
from portal.core.actors import Actor

# Keys made here have no maker: they keep their permissions whoever comes and goes.
COMMAND_LINE = Actor(kind="command-line", name="Command line")


@click.group("api-key")
def api_key_command() -> None:
    """API keys for the JSON API (/api/v1)."""


@api_key_command.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--company", "company_id", type=int, default=None, help="Company ID (default: the first)."
)
@click.option(
    "--permissions",
    "permission_list",
    default=ALL,
    show_default=True,
    help="What the key may do: comma-separated, of "
    + ", ".join(f"{p.key} ({p.label})" for p in api_catalog())
    + f"; or {ALL}, every permission a key may have.",
)
def api_key_create(name: str, company_id: int | None, permission_list: str) -> None:
    """Create an API key and print it (it is shown only this once)."""
    from portal.api.services import create_key
    from portal.cli import with_database
    from portal.companies.tables import Company

    async def create() -> tuple[int, str]:
        permissions = parse_list(permission_list)
        target = company_id
        if target is None:
            row = await Company.select(Company.id).order_by(Company.id).first()
            target = row["id"] if row else 0
        return await create_key(target, name, permissions, COMMAND_LINE)

    key_id, key = with_database(create)
    click.echo(f"API key {key_id} created. Copy it now, it is not shown again:", err=True)
    click.echo(key)
