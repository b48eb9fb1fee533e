"""Languages the portal ships, their gettext catalogs, and the sentences services build.

Catalogs are Babel's: `pybabel extract` finds the strings marked in code and templates
(`_()`, `translate()`, and `N_()` for strings translated where they are shown), `pybabel
update` merges them into portal/locale/<lang>/LC_MESSAGES/messages.po, `pybabel compile` writes
the messages.mo the portal reads (see the README).

A sentence a service builds for people is a `Message`: a template of the catalogs and its
parameters ("%(label)s is required.", label="City"). Its text is the English sentence; in the
client area `translate()` gives it in the request's language, labels of the portal's own
(`Label`) translated too.
"""

from __future__ import annotations

import contextlib
import gettext
from contextvars import ContextVar
from functools import cache
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

from babel import Locale
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


def N_(message: str) -> str:  # noqa: N802 - gettext's name for it
    """Marks a string for the catalogs that is translated where it is shown, not here."""
    return message


class Label(str):
    """A label of the portal's own (a field's, a choice's): in the catalogs, so a Message
    that names it names it in the request's language."""

    __slots__ = ()


class Message(str):
    """A sentence for people: a template of the catalogs with its parameters. As a str it is
    the English sentence; `translate()` gives it in the request's language."""

    __slots__ = ("params", "template")

    def __new__(cls, template: str, **params: Any) -> Message:
        message = super().__new__(cls, template % params)
        message.template = template
        message.params = params
        return message


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    try:
        return gettext.translation("messages", LOCALE_DIR, languages=[language])
    except FileNotFoundError:  # a language without a catalog speaks English
        return gettext.NullTranslations()


# The language of the current request; set by `language_middleware`, read by `translate`.
current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)
LANGUAGE_COOKIE = "portal_lang"
# The areas people other than staff see; the admin area is English.
TRANSLATED_PATHS = ("/client", "/fragments", "/unsubscribe")


def translate(message: str) -> str:
    catalog = translations(current_language.get())
    if isinstance(message, Message):
        params = {
            name: catalog.gettext(value) if isinstance(value, Label) else value
            for name, value in message.params.items()
        }
        return catalog.gettext(message.template) % params
    return catalog.gettext(message)


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
