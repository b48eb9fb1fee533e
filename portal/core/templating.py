"""The Jinja environment: autoescaped templates from ./templates, with a few globals."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from jinja2 import pass_context
from jinja2.runtime import Context
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from markupsafe import Markup, escape

from portal.core.config import TEMPLATES_DIR, get_settings
from portal.core.i18n import LANGUAGES, current_language, translate, translate_plural
from portal.core.static import asset_url

ISO_DATE = "%Y-%m-%d"


def _date_style(context: Context) -> tuple[ZoneInfo, str | None]:
    """(time zone, date format) of the page's company: an admin page's (the request's
    `state.admin.company`) with the format staff chose; a client-area page's (`state.brand`)
    with None: the client's language writes dates its own way (Babel). UTC elsewhere."""
    state = getattr(context.get("request"), "state", None)
    admin_company = getattr(getattr(state, "admin", None), "company", None)
    company = admin_company or getattr(state, "brand", None)
    try:
        zone = ZoneInfo(getattr(company, "timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return zone, getattr(admin_company, "date_format", ISO_DATE) if admin_company else None


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


@pass_context
def company_date(context: Context, value: date | None) -> str:
    """`{{ x | company_date }}`: a date, or the day of a moment in the company's time zone, in
    the company's date format (admin area) or the way the page's language writes dates."""
    if value is None:
        return ""
    zone, date_format = _date_style(context)
    if isinstance(value, datetime):
        value = _in_zone(value, zone)
    if date_format is None:
        return format_date(value, "medium", locale=current_language.get())
    return value.strftime(date_format)


@pass_context
def company_datetime(context: Context, value: datetime | None, zone_name: bool = False) -> str:
    """`{{ x | company_datetime }}`: a moment in the company's time zone, to the minute, its
    day written as `company_date` writes it; `company_datetime(True)` adds the zone's
    abbreviation ("CET")."""
    if value is None:
        return ""
    zone, date_format = _date_style(context)
    moment = _in_zone(value, zone)
    if date_format is None:
        language = current_language.get()
        text = f"{format_date(moment, 'medium', locale=language)} "
        text += format_time(moment, "short", locale=language)
    else:
        text = moment.strftime(f"{date_format} %H:%M")
    return f"{text} {moment.tzname()}" if zone_name else text


def query_fields(url: str, leave_out: str = "page") -> list[tuple[str, str]]:
    """`{{ url | query_fields }}`: the query's fields of a link but `leave_out`, as hidden
    inputs of a GET form that goes to the same view (the pager's "Go to page")."""
    return [(k, v) for k, v in parse_qsl(urlsplit(url).query) if k != leave_out]


def url_path(url: str) -> str:
    return urlsplit(url).path


OptionTags = tuple[tuple[str, str, str], ...]  # (value, its <option>, the same selected)


def _option_tags(options: Iterable[tuple[object, object]]) -> OptionTags:
    tags = []
    for value, text in options:
        opening, label = f'<option value="{escape(value)}"', escape(text)
        tags.append(
            (str(value), f"{opening}>{label}</option>", f"{opening} selected>{label}</option>")
        )
    return tuple(tags)


# The long lists (countries, currencies, languages) are the same tuples on every page: their
# options are escaped once, not one value at a time on every render.
_constant_option_tags = functools.lru_cache(maxsize=32)(_option_tags)


def option_tags(options: Iterable[tuple[object, object]], selected: object = "") -> Markup:
    """`{{ options | option_tags(selected) }}`: a select's <option>s, of (value, text) pairs;
    the one whose value reads as `selected` is selected."""
    tags = _constant_option_tags(options) if isinstance(options, tuple) else _option_tags(options)
    chosen = str(selected)
    html = "".join(on if value == chosen else off for value, off, on in tags)
    return Markup(html)  # noqa: S704 - made of escaped values only (_option_tags)


def _configure(engine: JinjaTemplateEngine) -> None:
    # `_()` in templates translates into the request's language (English in the admin area).
    engine.engine.add_extension("jinja2.ext.i18n")
    engine.engine.install_gettext_callables(translate, translate_plural, newstyle=True)  # type: ignore[attr-defined]
    engine.engine.globals.update(
        asset=asset_url, LANGUAGES=LANGUAGES, current_language=current_language.get
    )
    # `message | translated`: a sentence made elsewhere (a service's error, a Message), in the
    # request's language; `_()` is for the templates' own strings.
    engine.engine.filters["translated"] = translate
    filters: dict[str, Any] = {
        "company_date": company_date,
        "company_datetime": company_datetime,
        "query_fields": query_fields,
        "url_path": url_path,
        "option_tags": option_tags,
    }
    engine.engine.filters.update(filters)
    engine.engine.trim_blocks = True
    engine.engine.lstrip_blocks = True
    # Templates are compiled once; only a developer's server looks at their files again on
    # every render, to pick up edits.
    settings = get_settings()
    engine.engine.auto_reload = settings.development or settings.debug


def template_config() -> TemplateConfig:
    return TemplateConfig(
        directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_configure
    )
