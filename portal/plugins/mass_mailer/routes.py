"""[Tools] > Mass Mailer (Filter -> Compose -> Preview -> Send, the mailings and their progress,
the CSV export), and the public unsubscribe link."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Stream, Template

from portal.client_groups.services import list_groups
from portal.clients import segments
from portal.clients.services import STATUSES
from portal.companies.services import mail_identity
from portal.core.countries import countries
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.i18n import LANGUAGES
from portal.core.web import client_address, form_data, redirect, throttled
from portal.mail import services as mail
from portal.plugins.mass_mailer import MAILER_COMPOSE, MAILER_SEND, services
from portal.plugins.mass_mailer.forms import ID, filter_fields, read_compose, read_filter, values
from portal.plugins.mass_mailer.messages import ALLOWED_FILTERS, CLIENT_FIELDS, Compose
from portal.plugins.mass_mailer.services import KINDS, MailingFilter
from portal.staff.access import Admin, AdminContext

BASE = "/tools/mass-mailer"
URL = f"/admin{BASE}"
T = "plugins/mass_mailer"
CSV_COLUMNS = (
    ("email", "Email"),
    ("client_id", "Client ID"),
    ("code", "Client Code"),
    ("first_name", "First Name"),
    ("last_name", "Last Name"),
    ("company", "Company/Org."),
    ("language", "Language"),
    ("country", "Country"),
    ("status", "Status"),
    ("group_name", "Client Group"),
    ("contact_type", "Contact"),  # primary, billing or other: whose address it is
)
FIELD_HELP = (
    ("client.first_name", "First Name"),
    ("client.last_name", "Last Name"),
    ("client.full_name", "First and last name"),
    ("client.company_name", "Company/Org."),
    ("client.email", "Email"),
    ("client.client_id", "Client ID"),
    ("client.language", "Language code, e.g. en"),
    ("client.country", "Country code, e.g. DE"),
    ("company.name", "Your company's name"),
    (
        "unsubscribe_url",
        "The recipient's unsubscribe link (marketing only; added at the end "
        "of the message when you do not place it)",
    ),
)
assert {name.split(".", 1)[1] for name, _ in FIELD_HELP if name.startswith("client.")} == set(
    CLIENT_FIELDS
)


def _query(request: Request) -> dict[str, Any]:
    """The query string as a dict; repeated names become lists (as form_data does)."""
    data: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in data:
            existing = data[key]
            data[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            data[key] = value
    return data


async def _choices(admin: AdminContext) -> dict[str, Any]:
    groups = await list_groups(admin.company.id, with_counts=False)
    return {
        "group_options": [(g["id"], g["name"]) for g in groups],
        "segment_options": [
            (s.id, s.name) for s in await segments.list_segments(admin.company.id, described=False)
        ],
        "status_options": list(STATUSES.items()),
        "language_options": list(LANGUAGES.items()),
        "country_options": countries(admin.staff.language),
        "kind_options": list(KINDS.items()),
    }


async def _filter_page(
    admin: AdminContext,
    mailing_filter: MailingFilter,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    choices = await _choices(admin)
    segment_ids = {segment_id for segment_id, _ in choices["segment_options"]}
    if mailing_filter.segment_id is not None and mailing_filter.segment_id not in segment_ids:
        errors = {**errors, "segment": "That segment was deleted: choose another."}
    count = 0 if errors else await services.count_recipients(admin.company.id, mailing_filter)
    browse_filter = (
        await segments.describe(admin.company.id, mailing_filter.browse_filter)
        if mailing_filter.browse_filter and "browse_filter" not in errors
        else ""
    )
    return Template(
        f"{T}/filter.html",
        context={
            "page_title": "Mass Mailer",
            "f": mailing_filter,
            "errors": errors,
            "count": count,
            "query": filter_fields(mailing_filter),
            "browse_filter": browse_filter,
            **choices,
        },
        status_code=status_code,
    )


def _compose_page(
    mailing_filter: MailingFilter,
    compose: Compose,
    errors: dict[str, str],
    count: int,
    status_code: int = 200,
) -> Template:
    return Template(
        f"{T}/compose.html",
        context={
            "page_title": "Mass Mailer: Compose",
            **_carried(mailing_filter, compose),
            "errors": errors,
            "count": count,
            "field_help": FIELD_HELP,
            "allowed_filters": ALLOWED_FILTERS,
        },
        status_code=status_code,
    )


async def _compose_again(
    admin: AdminContext,
    mailing_filter: MailingFilter,
    compose: Compose,
    errors: dict[str, str],
    status_code: int = 422,
) -> Template:
    """The compose page again, with what was typed, what is wrong, and the recipients' count
    now."""
    count = await services.count_recipients(admin.company.id, mailing_filter)
    return _compose_page(mailing_filter, compose, errors, count, status_code)


def _carried(mailing_filter: MailingFilter, compose: Compose) -> dict[str, Any]:
    """What the compose and preview pages carry on to the next step: the filter (in hidden
    fields too) and the message."""
    return {"f": mailing_filter, "hidden": filter_fields(mailing_filter), "compose": compose}


def _checked_filter(request: Request) -> tuple[MailingFilter, dict[str, str]]:
    """The filter the query string gives, and what is wrong with it (its fields, and the
    filter as a whole)."""
    mailing_filter, errors = read_filter(_query(request))
    errors.update(services.check_filter(mailing_filter))
    return mailing_filter, errors


@get(BASE, name="mass-mailer:filter", permission=MAILER_COMPOSE)
async def filter_page(admin: Admin, request: Request) -> Template:
    mailing_filter, errors = read_filter(_query(request))
    errors.update(services.check_filter(mailing_filter) if request.query_params else {})
    return await _filter_page(admin, mailing_filter, errors)


@get(f"{BASE}/from-clients", name="mass-mailer:from-clients", permission=MAILER_COMPOSE)
async def from_clients(admin: Admin, request: Request) -> Response:
    """Clients handed over by Clients' bulk action "Send to Mass Mailer"
    (portal.clients.bulk.handoff_query): chosen clients (`client`), whatever their status, or
    all that a Browse view finds (its filters, and its tab as the status). The Filter step
    opens with them, for the other values to be added."""
    chosen = values(_query(request), "client")
    if chosen:
        client_ids = sorted({int(value) for value in chosen if ID.fullmatch(value)})
        mailing_filter = MailingFilter(statuses=list(STATUSES), client_ids=client_ids)
    else:
        try:
            browse_filter, status = segments.view_of(request.query_params)
        except ValidationError as error:
            message = " ".join(str(text) for text in error.errors.values())
            return await _filter_page(admin, MailingFilter(), {"": message}, status_code=422)
        mailing_filter = MailingFilter(statuses=[status], browse_filter=browse_filter)
    return redirect(request, f"{URL}?{urlencode(filter_fields(mailing_filter))}")


@get(f"{BASE}/count", name="mass-mailer:count", permission=MAILER_COMPOSE)
async def recipient_count(admin: Admin, request: Request) -> Template:
    """The live recipient count (htmx swaps it in as the filter changes)."""
    mailing_filter, errors = _checked_filter(request)
    count = 0 if errors else await services.count_recipients(admin.company.id, mailing_filter)
    return Template(
        f"{T}/_count.html", context={"count": count, "errors": errors, "f": mailing_filter}
    )


@get(f"{BASE}/export.csv", name="mass-mailer:export", permission=MAILER_COMPOSE)
async def export_csv(admin: Admin, request: Request) -> Response:
    mailing_filter, errors = _checked_filter(request)
    if errors:
        return await _filter_page(admin, mailing_filter, errors, status_code=422)
    company_id = admin.company.id

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([label for _, label in CSV_COLUMNS])
        count = 0
        async for row in services.iter_recipients(company_id, mailing_filter):
            writer.writerow([services.csv_safe(row[name]) for name, _ in CSV_COLUMNS])
            count += 1
            if count % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Stream(
        rows(),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="mailing-recipients.csv"'},
    )


@get(f"{BASE}/compose", name="mass-mailer:compose", permission=MAILER_COMPOSE)
async def compose_page(admin: Admin, request: Request) -> Template:
    mailing_filter, errors = _checked_filter(request)
    if errors:
        return await _filter_page(admin, mailing_filter, errors, status_code=422)
    count = await services.count_recipients(admin.company.id, mailing_filter)
    if not count:
        return await _filter_page(
            admin, mailing_filter, {"": services.NO_RECIPIENTS}, status_code=422
        )
    from_name, from_address = mail.sender(await mail_identity(admin.company.id))
    compose = Compose(from_name=from_name, from_address=from_address)
    return _compose_page(mailing_filter, compose, {}, count)


@post(
    f"{BASE}/compose", name="mass-mailer:compose-back", permission=MAILER_COMPOSE, status_code=200
)
async def compose_back(admin: Admin, request: Request) -> Template:
    """Back from the preview, with everything typed."""
    data = await form_data(request)
    mailing_filter, errors = read_filter(data)
    return await _compose_again(admin, mailing_filter, read_compose(data), errors, 200)


async def _preview_or_errors(
    admin: AdminContext, data: dict[str, Any]
) -> tuple[MailingFilter, Compose, Template | None, services.MailPreview | None]:
    mailing_filter, errors = read_filter(data)
    compose = read_compose(data)
    if errors:
        page = await _compose_again(admin, mailing_filter, compose, errors)
        return mailing_filter, compose, page, None
    try:
        result = await services.preview(
            admin.company.id, mailing_filter, compose, data.get("preview_for", "")
        )
    except ValidationError as error:
        page = await _compose_again(admin, mailing_filter, compose, error.errors)
        return mailing_filter, compose, page, None
    if not result.count:
        page = _compose_page(mailing_filter, compose, {"": services.NO_RECIPIENTS}, 0, 422)
        return mailing_filter, compose, page, None
    return mailing_filter, compose, None, result


def _preview_page(
    mailing_filter: MailingFilter, compose: Compose, shown: services.MailPreview
) -> Template:
    return Template(
        f"{T}/preview.html",
        context={
            "page_title": "Mass Mailer: Preview",
            **_carried(mailing_filter, compose),
            "count": shown.count,
            "recipients": shown.recipients,
            "first": shown.chosen,
            "rendered": shown.rendered,
            "kind_label": KINDS[mailing_filter.kind],
        },
    )


async def _shown_preview(
    admin: AdminContext,
    request: Request,
    then: Callable[[services.MailPreview], Awaitable[None]] | None = None,
) -> Template:
    """The preview of the message the form composes (`then` done with it first), or the
    compose page with what is wrong."""
    data = await form_data(request)
    mailing_filter, compose, error_page, shown = await _preview_or_errors(admin, data)
    if error_page is not None:
        return error_page
    assert shown is not None
    if then is not None:
        await then(shown)
    return _preview_page(mailing_filter, compose, shown)


@post(f"{BASE}/preview", name="mass-mailer:preview", permission=MAILER_COMPOSE, status_code=200)
async def preview_page(admin: Admin, request: Request) -> Template:
    return await _shown_preview(admin, request)


@post(f"{BASE}/test", name="mass-mailer:test", permission=MAILER_COMPOSE, status_code=200)
async def send_test(admin: Admin, request: Request) -> Template:
    """ "Send a test to me": the previewed message to the staff member's own address."""

    async def send_to_me(shown: services.MailPreview) -> None:
        await services.send_test(admin.company.id, shown, admin.staff.email, admin.actor(request))
        flash(request, f"A test of this message was sent to {admin.staff.email}.", "success")

    return await _shown_preview(admin, request, send_to_me)


@post(f"{BASE}/send", name="mass-mailer:send", permission=MAILER_SEND)
async def send(admin: Admin, request: Request) -> Response:
    data = await form_data(request)
    mailing_filter, compose, error_page, _ = await _preview_or_errors(admin, data)
    if error_page is not None:
        return error_page
    try:
        job_id = await services.create_job(
            admin.company.id, admin.actor(request), mailing_filter, compose
        )
    except ValidationError as error:
        return await _compose_again(admin, mailing_filter, compose, error.errors)
    flash(request, "The mailing is queued; it goes out at the configured rate.", "success")
    return redirect(request, f"{URL}/jobs/{job_id}")


@get(f"{BASE}/jobs", name="mass-mailer:jobs", permission=MAILER_COMPOSE)
async def jobs_page(admin: Admin) -> Template:
    return Template(
        f"{T}/jobs.html",
        context={"page_title": "Mailings", "jobs": await services.list_jobs(admin.company.id)},
    )


async def _progress_or_404(admin: AdminContext, job_id: int) -> services.Progress:
    return await services.job_progress(admin.company.id, job_id)


@get(f"{BASE}/jobs/{{job_id:int}}", name="mass-mailer:job", permission=MAILER_COMPOSE)
async def job_page(admin: Admin, job_id: FromPath[int]) -> Template:
    progress = await _progress_or_404(admin, job_id)
    job = await services.get_job(admin.company.id, job_id)
    problems = await services.job_problems(admin.company.id, job_id)
    return Template(
        f"{T}/job.html",
        context={
            "page_title": f"Mailing {job_id}",
            "job": job,
            "progress": progress,
            "problems": problems,
            "filter": MailingFilter.from_json(job["filter"]),
            "kind_label": KINDS.get(job["kind"], job["kind"]),
        },
    )


@get(
    f"{BASE}/jobs/{{job_id:int}}/progress",
    name="mass-mailer:job-progress",
    permission=MAILER_COMPOSE,
)
async def job_progress(admin: Admin, job_id: FromPath[int]) -> Template:
    """The progress fragment, polled every second until the mailing is done."""
    progress = await _progress_or_404(admin, job_id)
    return Template(f"{T}/_progress.html", context={"progress": progress})


@post(f"{BASE}/jobs/{{job_id:int}}/cancel", name="mass-mailer:job-cancel", permission=MAILER_SEND)
async def cancel(admin: Admin, request: Request, job_id: FromPath[int]) -> Response:
    await services.cancel_job(admin.company.id, job_id, admin.actor(request))
    flash(request, "The mailing is cancelled: nothing more of it is sent.", "success")
    return redirect(request, f"{URL}/jobs/{job_id}")


# --- the unsubscribe link (public) -------------------------------------------------------------


def _invalid_link() -> Template:
    """The one answer for malformed and unknown links (and those of deleted recipients)."""
    return Template(
        f"{T}/unsubscribe_invalid.html",
        context={"page_title": "Unsubscribe link not valid"},
        status_code=404,
    )


def _too_many_links() -> Template:
    """Too many unknown links from the address: refused for a while, even a real link."""
    return throttled(
        Template(f"{T}/unsubscribe_throttled.html", context={"page_title": "Too many attempts"})
    )


async def _unsubscribe_answer(
    request: Request, token: str, find: Callable[[str, str], Awaitable[Any]], done: bool
) -> Template:
    """The unsubscribe page for the link's `token`, about the recipient that `find` (the
    service that looks, or the one that unsubscribes) returns; a link not known or an
    address refused for a while gets its own page."""
    try:
        target = await find(token, client_address(request))
    except NotFound:
        return _invalid_link()
    except Throttled:
        return _too_many_links()
    return Template(
        f"{T}/unsubscribe.html",
        context={
            "page_title": "Unsubscribed" if done else "Unsubscribe",
            "target": target,
            "token": token,
            "done": done,
        },
    )


@get("/unsubscribe/{token:str}", name="mass-mailer:unsubscribe", include_in_schema=False)
async def unsubscribe_page(request: Request, token: FromPath[str]) -> Template:
    """The confirmation: a link followed by a mail scanner must not unsubscribe anyone."""
    return await _unsubscribe_answer(request, token, services.unsubscribe_target, done=False)


@post(
    "/unsubscribe/{token:str}",
    name="mass-mailer:unsubscribe-post",
    status_code=200,
    include_in_schema=False,
)
async def unsubscribe_post(request: Request, token: FromPath[str]) -> Template:
    """The button of the confirmation page, and mail programs' one-click unsubscribe
    (RFC 8058: a POST with List-Unsubscribe=One-Click, no cookies, no login)."""
    return await _unsubscribe_answer(request, token, services.unsubscribe, done=True)


admin_handlers = [
    filter_page,
    from_clients,
    recipient_count,
    export_csv,
    compose_page,
    compose_back,
    preview_page,
    send_test,
    send,
    jobs_page,
    job_page,
    job_progress,
    cancel,
]
public_handlers = [unsubscribe_page, unsubscribe_post]
