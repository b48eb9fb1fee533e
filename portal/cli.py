"""The `portal` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg
import click

from portal.core.errors import NotFound, Unavailable, ValidationError

Result = TypeVar("Result")


def database_problem(error: BaseException) -> str | None:
    """A paragraph for people about a database the portal cannot use: what is wrong, with
    which file or server, and what to do. None for errors that are not about the database."""
    from portal.core.config import get_settings

    if isinstance(error, PermissionError) and error.filename:
        return (
            f"The portal cannot write {error.filename}: it is read-only for this user (uid "
            f"{os.getuid()}). Make it writable for the user that runs the portal, or choose "
            "another folder with PORTAL_VAR_DIR."
        )
    database = get_settings().database
    causes = [error]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    message = " ".join(str(cause) for cause in causes).lower()
    reason = str(causes[-1]) or type(causes[-1]).__name__
    if database.engine == "postgres":
        where = database.dsn.split("@")[-1]
        if "does not exist" in message and "database" in message:
            return (
                f"The PostgreSQL database at {where} does not exist. Create it (for example "
                f"`createdb -h HOST -U USER NAME`), or correct PORTAL_DATABASE_URL."
            )
        if isinstance(error, Unavailable | OSError):
            return (
                f"The PostgreSQL server at {where} cannot be reached ({reason}). Start it, "
                "or correct PORTAL_DATABASE_URL; the portal waits PORTAL_DB_WAIT_SECONDS for it."
            )
        return None
    path = database.path
    if any(
        word in message for word in ("readonly", "read-only", "unable to open", "permission denied")
    ):
        return (
            f"The SQLite database {path} cannot be written: its folder or the file itself is "
            f"read-only for this user (uid {os.getuid()}). Make both writable for the user that "
            "runs the portal, or choose another place with PORTAL_DATABASE_URL "
            "(sqlite:////absolute/path/portal.sqlite3) or PORTAL_VAR_DIR."
        )
    if (
        isinstance(error, sqlite3.DatabaseError)
        or "not a database" in message
        or "malformed" in (message)
    ):
        return (
            f"The file {path} is not a usable SQLite database ({reason}): it is damaged, "
            "truncated or something else. Restore it from a backup; or, to start afresh, move "
            "it away and the portal creates a new, empty database in its place."
        )
    if isinstance(error, Unavailable):
        return f"The SQLite database {path} cannot be used now ({reason}). Try again."
    return None


def _exit_for(error: BaseException) -> None:
    """Ends the command with a message rather than a traceback, for what people can fix."""
    if isinstance(error, ValidationError):
        for field, message in error.errors.items():
            click.echo(f"error: {field + ': ' if field else ''}{message}", err=True)
        sys.exit(2)
    if problem := database_problem(error):
        click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    raise error


async def _prepare(verbose: bool = False) -> None:
    """Applies pending migrations, makes the first company if there is none, and brings
    derived data up to date (a migration may have queued some)."""
    from portal.companies.services import ensure_default_company
    from portal.core import db

    await db.start(bounded=False)
    try:
        await db.migrate(verbose)
        await ensure_default_company()
        await db.refresh_derived_data()
    finally:
        await db.stop()


# What a command may meet that people can fix; anything else is a bug, with its traceback.
PROBLEMS = (
    ValidationError,
    OSError,
    sqlite3.Error,
    asyncpg.PostgresError,
    Unavailable,
    RuntimeError,
)


@contextlib.contextmanager
def _quiet_database_logs() -> Iterator[None]:
    """A command says in one paragraph what is wrong with the database: the outage line meant
    for a server's log, and Piccolo's own warnings, would only repeat it."""
    outages = logging.getLogger("portal.availability")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*Unable to (connect to|fetch)")
        outages.disabled = True
        try:
            yield
        finally:
            outages.disabled = False


def prepare(verbose: bool = False) -> None:
    try:
        with _quiet_database_logs():
            asyncio.run(_prepare(verbose))
    except PROBLEMS as error:
        _exit_for(error)


def with_database(work: Callable[[], Awaitable[Result]]) -> Result:
    """Prepares the database (see `_prepare`), then runs `work` with it open, for a command.
    A ValidationError or a database that cannot be used ends the command with a message."""
    from portal.core import db

    async def run() -> Result:
        await _prepare()
        await db.start(bounded=False)
        try:
            return await work()
        finally:
            await db.stop()

    try:
        with _quiet_database_logs():
            return asyncio.run(run())
    except PROBLEMS as error:
        _exit_for(error)
        raise  # not reached: _exit_for exits or raises


async def company_or_fail(company_id: int) -> None:
    """ValidationError (a message, exit code 2) for a company ID that does not exist."""
    from portal.companies.services import get_company

    try:
        await get_company(company_id)
    except NotFound:
        raise ValidationError({"company": f"No company with ID {company_id}."}) from None


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

    from portal.core.config import get_settings
    from portal.core.server import BoundedHeadProtocol, limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts
    prepare()
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
        http=BoundedHeadProtocol,
        log_level="info",
        access_log=get_settings().access_log,
    )


@main.command()
def migrate() -> None:
    """Apply pending database migrations."""
    prepare(verbose=True)
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
@click.option(
    "--group",
    default="Administrators",
    show_default=True,
    help="The staff group to join in each company (e.g. Support, or one made in the admin area).",
)
def staff_create(
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    company_id: int | None,
    group: str,
) -> None:
    """Create a staff member (an administrator unless --group says otherwise)."""
    from portal.staff.services import create_staff

    async def create() -> int:
        if company_id is not None:
            await company_or_fail(company_id)
        return await create_staff(
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            company_ids=[company_id] if company_id is not None else None,
            group=group,
        )

    click.echo(f"Staff member {with_database(create)} created.")


@staff.command("reset-two-factor")
@click.option("--email", prompt=True)
def staff_reset_two_factor(email: str) -> None:
    """Turn off a staff member's two-factor sign-in and end their sessions (a lost phone and
    lost recovery codes); they set it up again at their next sign-in where it is required."""
    from portal.staff.services import reset_two_factor

    with_database(lambda: reset_two_factor(email))
    click.echo(f"Two-factor sign-in of {email} is off; their sessions ended.")


@main.group()
def company() -> None:
    """Companies."""


@company.command("create")
@click.option("--name", required=True)
@click.option("--currency", default="USD", show_default=True)
@click.option("--language", default="en", show_default=True)
@click.option("--country", default="US", show_default=True)
def company_create(name: str, currency: str, language: str, country: str) -> None:
    """Add a company, with its General client group and its Administrators and Support staff
    groups (staff join it with `portal staff create --company ID` or from its admin area)."""
    from portal.companies.services import create_company

    company_id = with_database(lambda: create_company(name, currency, language, country))
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

    with_database(lambda: load_demo(count, company_id=company_id, seed=seed))


@main.group()
def search() -> None:
    """The client search index."""


@search.command("reindex")
@click.option("--company", "company_id", type=int, default=None, help="Only this company.")
def search_reindex(company_id: int | None) -> None:
    """Rebuild the search documents of every client (a repair: every write keeps them)."""
    from portal.clients import search as client_search

    async def reindex() -> int:
        if company_id is None:
            return await client_search.reindex_all()
        await company_or_fail(company_id)
        return await client_search.reindex_company(company_id)

    click.echo(f"{with_database(reindex):,} clients indexed.")


@main.group()
def clients() -> None:
    """Clients."""


@clients.command("recount")
def clients_recount() -> None:
    """Count every company's clients afresh (Browse's tab counts, the group list), as a repair
    (the database keeps the counts)."""
    from portal.clients import counts

    click.echo(f"{with_database(counts.recount):,} clients counted.")


def _add_commands() -> None:
    """`portal api-key …`, `portal import …`, `portal webhooks run`, and the commands plugins
    bring (e.g. `portal mailer run`)."""
    from portal import plugins
    from portal.api.cli import api_key_command
    from portal.imports.cli import import_command
    from portal.webhooks.worker import webhooks_command

    main.add_command(api_key_command)
    main.add_command(import_command)
    main.add_command(webhooks_command)
    for command in plugins.cli_commands():
        main.add_command(command)


_add_commands()
