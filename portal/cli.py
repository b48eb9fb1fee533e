"""The `portal` command."""

from __future__ import annotations

import asyncio
import os
import sys

import click

from portal.core.errors import ValidationError


def _run(coro):
    return asyncio.run(coro)


async def _prepare(verbose: bool = False) -> None:
    from portal.companies.services import ensure_default_company
    from portal.core import db

    await db.start()
    try:
        await db.migrate(verbose)
        await ensure_default_company()
    finally:
        await db.stop()


def _fail(error: ValidationError) -> None:
    for field, message in error.errors.items():
        click.echo(f"error: {field + ': ' if field else ''}{message}", err=True)
    sys.exit(2)


@click.group()
def main() -> None:
    """Client portal: the Clients area of a billing system."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Apply migrations, then serve the portal."""
    import uvicorn

    _run(_prepare())
    forwarded_allow_ips = os.environ.get("PORTAL_FORWARDED_ALLOW_IPS", "")
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # Behind a reverse proxy, name it (its address) so that login throttling and the audit
        # see each visitor's own address rather than the proxy's.
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
        log_level="info",
    )


@main.command()
def migrate() -> None:
    """Apply pending database migrations."""
    _run(_prepare(verbose=True))
    click.echo("Migrations applied.")


@main.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("create")
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option(
    "--company", "company_id", type=int, default=None, help="Only this company (default: all)."
)
def staff_create(
    email: str, password: str, first_name: str, last_name: str, company_id: int | None
) -> None:
    """Create a staff administrator."""
    from portal.companies.services import get_company
    from portal.core import db
    from portal.core.errors import NotFound
    from portal.staff.services import create_staff

    async def create() -> int:
        await _prepare()
        await db.start()
        try:
            if company_id is not None:
                try:
                    await get_company(company_id)
                except NotFound:
                    raise ValidationError(
                        {"company": f"No company with ID {company_id}."}
                    ) from None
            return await create_staff(
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                company_ids=[company_id] if company_id is not None else None,
            )
        finally:
            await db.stop()

    try:
        staff_id = _run(create())
    except ValidationError as error:
        _fail(error)
    click.echo(f"Staff member {staff_id} created.")


@main.group()
def company() -> None:
    """Companies."""


@company.command("create")
@click.option("--name", required=True)
@click.option("--currency", default="USD", show_default=True)
@click.option("--language", default="en", show_default=True)
@click.option("--country", default="US", show_default=True)
def company_create(name: str, currency: str, language: str, country: str) -> None:
    """Add a company, with its General client group."""
    from portal.companies.services import create_company
    from portal.core import db

    async def create() -> int:
        await _prepare()
        await db.start()
        try:
            return await create_company(name, currency, language, country)
        finally:
            await db.stop()

    try:
        company_id = _run(create())
    except ValidationError as error:
        _fail(error)
    click.echo(f"Company {company_id} created.")


@main.command()
@click.option(
    "--clients", "count", default=100, show_default=True, type=click.IntRange(1, 2_000_000)
)
@click.option(
    "--company", "company_id", type=int, default=None, help="Company to fill (default: the first)."
)
@click.option("--seed", default=None, type=int, help="Random seed, for repeatable data.")
def demo(count: int, company_id: int | None, seed: int | None) -> None:
    """Load realistic demo clients."""
    from portal.clients.demo import load_demo
    from portal.core import db

    async def load() -> None:
        await _prepare()
        await db.start()
        try:
            await load_demo(count, company_id=company_id, seed=seed)
        finally:
            await db.stop()

    try:
        _run(load())
    except ValidationError as error:
        _fail(error)


@main.group()
def search() -> None:
    """The client search index."""


@search.command("reindex")
@click.option("--company", "company_id", type=int, default=None, help="Only this company.")
def search_reindex(company_id: int | None) -> None:
    """Rebuild the search documents of every client (after a bulk import, for instance)."""
    from portal.clients import search as client_search
    from portal.core import db

    async def reindex() -> int:
        await _prepare()
        await db.start()
        try:
            if company_id is None:
                return await client_search.reindex_all()
            return await client_search.reindex_company(company_id)
        finally:
            await db.stop()

    click.echo(f"{_run(reindex()):,} clients indexed.")


@main.group()
def clients() -> None:
    """Clients."""


@clients.command("recount")
def clients_recount() -> None:
    """Count every company's clients afresh (Browse's tab counts, the group list), after
    changes made to the database by hand."""
    from portal.clients import counts
    from portal.core import db

    async def recount() -> int:
        await _prepare()
        await db.start()
        try:
            return await counts.recount()
        finally:
            await db.stop()

    click.echo(f"{_run(recount()):,} clients counted.")


def _add_commands() -> None:
    """`portal api-key …`, and the commands plugins bring (e.g. `portal mailer run`)."""
    from portal import plugins
    from portal.api.cli import api_key_command

    main.add_command(api_key_command)
    for command in plugins.cli_commands():
        main.add_command(command)


_add_commands()
