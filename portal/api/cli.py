"""`portal api-key create`: a key for the JSON API, printed once."""

from __future__ import annotations

import click


@click.group("api-key")
def api_key_command() -> None:
    """API keys for the JSON API (/api/v1)."""


@api_key_command.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--company", "company_id", type=int, default=None, help="Company ID (default: the first)."
)
def api_key_create(name: str, company_id: int | None) -> None:
    """Create an API key and print it (it is shown only this once)."""
    from portal.api.services import create_key
    from portal.cli import with_database
    from portal.companies.tables import Company

    async def create() -> tuple[int, str]:
        target = company_id
        if target is None:
            row = await Company.select(Company.id).order_by(Company.id).first()
            target = row["id"] if row else 0
        return await create_key(target, name, created_by="cli")

    key_id, key = with_database(create)
    click.echo(f"API key {key_id} created. Copy it now, it is not shown again:", err=True)
    click.echo(key)
