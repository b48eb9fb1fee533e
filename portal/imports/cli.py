"""`portal import clients FILE.csv`: the import of the admin area's [Clients] > Import, from the
command line, with a progress bar and the rows that failed printed with their row numbers;
`portal import fossbilling --database URL`: the same from a FOSSBilling database (see
portal/imports/systems.py)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.core.actors import Actor
from portal.core.errors import ValidationError

if TYPE_CHECKING:
    from portal.jobs.services import JobView, Problem

COMMAND_LINE = Actor(kind="command-line", name="Command line")
PROBLEMS_PRINTED = 200


@click.group("import")
def import_command() -> None:
    """Import data from files."""


def _mapping(header: list[str], given: dict[str, str], targets: dict[str, str]) -> list[str]:
    """A mapping file's {"header": "field"} (the field by its key or its label), as a target per
    column; the columns it leaves out keep their automatic target."""
    by_label = {label.casefold(): target for target, label in targets.items()}
    mapping = []
    for name in header:
        wanted = given.get(name)
        if wanted is None:
            mapping.append("")
            continue
        target = wanted if wanted in targets or not wanted else by_label.get(wanted.casefold())
        if target is None:
            raise ValidationError({"mapping": f'Column "{name}": there is no field "{wanted}".'})
        mapping.append(target)
    return mapping


@import_command.command("clients")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--company", "company_id", type=int, default=None, help="Company ID (default: the first)."
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON {"column header": "field"}; without it, headers that are Add Client\'s labels '
    "map themselves.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check every row and list the problems; save nothing."
)
@click.option(
    "--on-duplicate",
    type=click.Choice(["skip", "update", "create"]),
    default="skip",
    show_default=True,
    help="A row whose email or username is an existing client's: skip it, update the client, "
    "or add a new client anyway.",
)
@click.option("--invite", is_flag=True, help="Email each new client a link to choose a password.")
def import_clients(
    file: Path,
    company_id: int | None,
    mapping_file: Path | None,
    dry_run: bool,
    on_duplicate: str,
    invite: bool,
) -> None:
    """Import clients from a CSV file."""
    from portal.cli import with_database
    from portal.imports import services

    given = json.loads(mapping_file.read_text()) if mapping_file else None
    if given is not None and not isinstance(given, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--mapping")

    async def run() -> Report:
        target = await _company(company_id)
        file_id = await services.upload(target, file.name, file, COMMAND_LINE)
        preview = await services.preview(target, file_id, COMMAND_LINE)
        mapping = preview.mapping
        if given is not None:
            mapping = _mapping(preview.header, given, preview.targets)
        choices = services.ImportChoices(mapping, on_duplicate, dry_run, invite)
        job_id = await services.start(target, file_id, choices, COMMAND_LINE)
        return await _run(job_id, dry_run)

    _print(with_database(run))


@import_command.command("fossbilling")
@click.option(
    "--database",
    required=True,
    help="The FOSSBilling database, as mysql://user:password@host:port/name (only read).",
)
@click.option(
    "--company", "company_id", type=int, default=None, help="Company ID (default: the first)."
)
@click.option(
    "--dry-run", is_flag=True, help="Check every client and list the problems; save nothing."
)
def import_fossbilling(database: str, company_id: int | None, dry_run: bool) -> None:
    """Import clients, client groups, notes and custom fields from a FOSSBilling database."""
    import anyio.to_thread

    from portal.cli import with_database
    from portal.imports import fossbilling, systems

    async def run() -> Report:
        target = await _company(company_id)
        with tempfile.TemporaryDirectory(prefix="portal-fossbilling-") as folder:
            snapshot = await anyio.to_thread.run_sync(fossbilling.read, database, Path(folder))
            job_id = await systems.start(target, snapshot, dry_run, COMMAND_LINE)
        return await _run(job_id, dry_run)

    _print(with_database(run))


# --- running an import job and printing its report -------------------------------------------

Report = tuple["JobView", list["Problem"], int]


async def _company(company_id: int | None) -> int:
    """The company asked for (it must exist), else the first."""
    from portal.cli import company_or_fail
    from portal.companies.tables import Company

    if company_id is None:
        row = await Company.select(Company.id).order_by(Company.id).first()
        company_id = row["id"] if row else 0
    await company_or_fail(company_id)
    return company_id


async def _run(job_id: int, dry_run: bool) -> Report:
    """Runs the import job in this process with a progress bar; its problems."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from portal.jobs import services as jobs

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("Dry run" if dry_run else "Importing", total=None)

        def show(run: jobs.JobRun) -> None:
            progress.update(task, total=run.total or None, completed=run.done + run.failed)

        job = await jobs.run_job(job_id, show)
    problems = await jobs.problems(job_id, PROBLEMS_PRINTED)
    return job, problems, await jobs.count_problems(job_id)


def _print(report: Report) -> None:
    """Each row that failed (on stderr), then what the job did; exit code 1 unless it ended."""
    job, problems, problem_count = report
    for problem in problems:
        where = f"row {problem.row}" + (f", {problem.column}" if problem.column else "")
        click.echo(f"{where}: {problem.message}", err=True)
    if problem_count > len(problems):
        click.echo(f"… and {problem_count - len(problems):,} more problems.", err=True)
    click.echo(job.message)
    if job.status != "done":
        raise SystemExit(1)
