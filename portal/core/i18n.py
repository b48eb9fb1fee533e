"""Languages the portal ships, and their gettext catalogs.

Catalogs are the `.po` files under portal/locale/<lang>/LC_MESSAGES/ (edited with Babel's
`pybabel extract/update`); they are compiled in memory at first use, so there is no build step.
"""

from __future__ import annotations

import contextlib
import gettext
import io
from contextvars import ContextVar
from functools import cache
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from litestar.datastructures import Headers
from litestar.types import ASGIApp, Receive, Scope, Send

# code -> name in that language (shown as is in language pickers)
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
}
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


@cache
def translations(language: str) -> gettext.NullTranslations:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not po_file.exists():
        return gettext.NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# The language of the current request; set by `language_middleware`, read by `translate`.
current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)
LANGUAGE_COOKIE = "portal_lang"
# The areas people other than staff see; the admin area is English.
TRANSLATED_PATHS = ("/client", "/fragments", "/unsubscribe")


def translate(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def language_of_request(scope: Scope) -> str:
    """The client's own language once logged in; before that the one chosen on the login page
    (a cookie), or the browser's preference."""
    if not scope.get("path", "").startswith(TRANSLATED_PATHS):
        return DEFAULT_LANGUAGE
    session = scope.get("session")
    if isinstance(session, dict) and isinstance(session.get("client"), dict):
        language = session["client"].get("lang")
        if language in LANGUAGES:
            return language
    headers = Headers.from_scope(scope)
    cookies = SimpleCookie()
    with contextlib.suppress(CookieError):
        cookies.load(headers.get("cookie", ""))
    if LANGUAGE_COOKIE in cookies and cookies[LANGUAGE_COOKIE].value in LANGUAGES:
        return cookies[LANGUAGE_COOKIE].value
    preferred = [
        part.split(";")[0].strip().replace("-", "_")
        for part in headers.get("accept-language", "").split(",")
        if part.strip()
    ]
    negotiated = Locale.negotiate(preferred, list(LANGUAGES), sep="_")
    return negotiated.language if negotiated else DEFAULT_LANGUAGE


def language_middleware(app: ASGIApp) -> ASGIApp:
    """Sets `current_language` for the request (after the session middleware has run)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        token = current_language.set(language_of_request(scope))
        try:
            await app(scope, receive, send)
        finally:
            current_language.reset(token)

    return middleware
