"""A mailing's message: its templates, the sandbox they run in, and one recipient's rendering.

Tags in subjects and bodies are Jinja, rendered in a sandbox that sees only these fields:

    client.first_name   client.last_name   client.full_name   client.company_name
    client.email        client.client_id   client.language    client.country
    company.name        unsubscribe_url (marketing mail only)

and only the filters in ALLOWED_FILTERS. Anything else (`{{ ''.__class__ }}`, a method call,
an unknown field or filter, include/extends) is refused with a message when the mailing is
composed, before anything is queued.

A template is also bounded in the work it may cause, since staff write it and the portal renders
it once per recipient: every message may go through at most MAX_ITERATIONS loop steps, make no
text longer than MAX_TEXT (with `~`, `+` or a filter; `*` on text is refused outright), come out
at most MAX_RENDERED_CHARS long, and take at most RENDER_SECONDS. When the mailing is composed,
each template is rendered for the largest client there can be (every field at its longest): a
template that would pass a bound for anyone is refused then, beside its field, and never starts a
mailing. Rendering runs in a worker thread (`render_off_loop`), never on the event loop.
"""

from __future__ import annotations

import functools
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import anyio.to_thread
import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from portal.core.errors import ValidationError
from portal.core.forms import Field, normalise_email

MAX_TEMPLATE_CHARS = 100_000
MAX_RENDERED_CHARS = 1_000_000
MAX_TEXT = 100_000  # the longest text a template may make along the way
MAX_ITERATIONS = 10_000  # loop steps in one message, all loops together
RENDER_SECONDS = 1.0  # one message's rendering, at most

ALLOWED_FILTERS = (
    "capitalize",
    "default",
    "d",
    "e",
    "escape",
    "lower",
    "replace",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordwrap",
)
CLIENT_FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "company_name",
    "email",
    "client_id",
    "language",
    "country",
)
COMPANY_FIELDS = ("name",)
# The longest each field can be (the columns' lengths): the worst case a template is tried on.
LONGEST = {
    "first_name": 100,
    "last_name": 100,
    "full_name": 201,
    "company_name": 255,
    "email": 254,
    "client_id": 64,
    "language": 16,
    "country": 2,
}
LONGEST_COMPANY_NAME = 255


class TemplateLimit(Exception):
    """A template went past one of the bounds above."""


class _Fields:
    """What a template may read of one thing (`name` in templates): exactly the attributes
    named in `allowed`."""

    name = ""
    allowed: tuple[str, ...] = ()

    def __init__(self, **values: str) -> None:
        for name in self.allowed:
            setattr(self, name, values.get(name, ""))


class ClientFields(_Fields):
    name = "client"
    allowed = CLIENT_FIELDS


class CompanyFields(_Fields):
    name = "company"
    allowed = COMPANY_FIELDS


TAGS = (
    *(f"client.{field}" for field in CLIENT_FIELDS),
    *(f"company.{field}" for field in COMPANY_FIELDS),
    "unsubscribe_url",
)


class UnknownTag(jinja2.StrictUndefined):
    """A tag no message has: its error names the tag as written and the tags there are."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        name = self._undefined_name
        tag = f"{owner.name}.{name}" if isinstance(owner, _Fields) else str(name)
        return f'there is no tag "{{{{ {tag} }}}}"; the tags are ' + ", ".join(
            f"{{{{ {known} }}}}" for known in TAGS
        )


@dataclass
class _Budget:
    iterations: int = 0
    deadline: float = 0.0


# The budget of the message being rendered (each rendering sets its own; rendering is
# synchronous, so one thread renders one message at a time).
_budget: ContextVar[_Budget | None] = ContextVar("mail_template_budget", default=None)


def _spend(iterations: int = 0) -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget.iterations += iterations
    if budget.iterations > MAX_ITERATIONS:
        raise TemplateLimit(f"it repeats more than {MAX_ITERATIONS:,} times for one message")
    if time.monotonic() > budget.deadline:
        raise TemplateLimit(f"it takes more than {RENDER_SECONDS:g} s for one message")


def _bounded(value: Any) -> Any:
    """Text a template made, if it is not too long."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise TemplateLimit(f"it makes a text longer than {MAX_TEXT:,} characters")
    _spend()
    return value


def _bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _spend(1)
        yield item


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    # wraps() keeps Jinja's mark of filters that are passed the environment or context.
    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(function(*args, **kwargs))

    return bounded


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles every loop to count its steps and every `~` to check what it made."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None
        )
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class MailSandbox(SandboxedEnvironment):
    """Jinja's sandbox, narrowed: attributes only of the field objects above and only those
    fields, no calls at all, no globals, a short list of filters, no text repetition, and
    bounded work (see the module's description)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+"})
    bounded = staticmethod(_bounded)
    bounded_iter = staticmethod(_bounded_iter)

    def __init__(self, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=UnknownTag,
            keep_trailing_newline=True,
        )
        self.filters = {name: _bounded_filter(self.filters[name]) for name in ALLOWED_FILTERS}
        self.globals.clear()

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return isinstance(obj, _Fields) and attr in obj.allowed

    def is_safe_callable(self, obj: Any) -> bool:
        return obj is _bounded_iter  # the loops' own counter, and nothing a template names

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in mail templates")
        if operator == "*" and (isinstance(left, str | list) or isinstance(right, str | list)):
            raise SecurityError("repeating text with * is not allowed in mail templates")
        return _bounded(super().call_binop(context, operator, left, right))


@cache
def _sandbox(autoescape: bool) -> MailSandbox:
    return MailSandbox(autoescape)


@dataclass(frozen=True)
class Compose:
    """What the Compose step holds: sender, subject and bodies (templates)."""

    from_name: str = ""
    from_address: str = ""
    subject: str = ""
    body_text: str = ""
    body_html: str = ""


@dataclass(frozen=True)
class CompiledMessage:
    subject: jinja2.Template
    body_text: jinja2.Template
    body_html: jinja2.Template | None
    from_name: str
    from_address: str
    kind: str


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body_text: str
    body_html: str | None


def _template_problem(error: Exception) -> str:
    if isinstance(error, TemplateLimit):
        return f"This template does too much for one message: {error}. Make it simpler."
    if isinstance(error, SecurityError) and "is not safely callable" in str(error):
        # Jinja's own words name the Python object (and its address): none of the template's.
        return "Not allowed in a mail template: calling a function or method (such as format)."
    if isinstance(error, SecurityError):
        return _sentence(f"Not allowed in a mail template: {error}")
    if isinstance(error, jinja2.UndefinedError):
        return _sentence(f"Unknown tag: {error.message}") if error.message else "Unknown tag."
    if isinstance(error, jinja2.TemplateSyntaxError):
        return _sentence(f"Template error on line {error.lineno}: {error.message}")
    if isinstance(error, TypeError | jinja2.TemplateError):
        return _sentence(f"Not allowed in a mail template: {error}")
    return _sentence(f"The template cannot be used: {error}")


def _sentence(text: str) -> str:
    """`text` ending with one full stop (Jinja's messages end with one, or none)."""
    return text.rstrip(".") + "."


UNSUBSCRIBE_FOOTER_TEXT = "\n\n--\nTo stop receiving these emails: {{ unsubscribe_url }}\n"
UNSUBSCRIBE_FOOTER_HTML = (
    '\n<p style="font-size:small">To stop receiving these emails, '
    '<a href="{{ unsubscribe_url }}">unsubscribe</a>.</p>\n'
)


def _single_line_problem(value: str, label: str) -> str | None:
    if any(char in value for char in "\r\n\x00") or any(ord(char) < 32 for char in value):
        return f"{label} must be one line, without line breaks or control characters."
    return None


FROM_NAME = Field("from_name", "From Name", 100, required=True)
SUBJECT = Field("subject", "Subject", 255, required=True)


def smtp_address(address: str) -> str | None:
    """The address as SMTP without SMTPUTF8 carries it (IDN domain in punycode), or None when
    its local part is not ASCII."""
    local, _, domain = address.rpartition("@")
    if not local or not local.isascii():
        return None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None


def compile_message(compose: Compose, kind: str) -> tuple[CompiledMessage | None, dict[str, str]]:
    """The compiled templates, or the problems found, by field. Marketing messages get an
    unsubscribe line when the body does not already carry `unsubscribe_url`. A template that
    would pass a bound of work for the largest client there can be is refused here."""
    errors: dict[str, str] = {}
    FROM_NAME.check(errors, compose.from_name.strip())
    if "from_name" not in errors and (
        problem := _single_line_problem(compose.from_name, "From Name")
    ):
        errors["from_name"] = problem
    address = normalise_email(compose.from_address.strip())
    if address is not None:
        address = smtp_address(address)
    if _single_line_problem(compose.from_address, "From Address") or address is None:
        errors["from_address"] = "Enter a valid email address, like news@example.com."
    SUBJECT.check(errors, compose.subject.strip())
    if "subject" not in errors and (problem := _single_line_problem(compose.subject, "Subject")):
        errors["subject"] = problem
    if not compose.body_text.strip():
        errors["body_text"] = "Text Body is required (it is what every mail program can show)."
    for name in ("body_text", "body_html"):
        if len(getattr(compose, name)) > MAX_TEMPLATE_CHARS:
            errors[name] = f"The body is too long (at most {MAX_TEMPLATE_CHARS:,} characters)."
    templates: dict[str, jinja2.Template] = {}
    for name, source, autoescape in (
        ("subject", compose.subject, False),
        ("body_text", compose.body_text, False),
        ("body_html", compose.body_html, True),
    ):
        if name in errors or (name == "body_html" and not source.strip()):
            continue
        if kind == "marketing" and name != "subject" and "unsubscribe_url" not in source:
            source += UNSUBSCRIBE_FOOTER_HTML if autoescape else UNSUBSCRIBE_FOOTER_TEXT
        try:
            templates[name] = _sandbox(autoescape).from_string(source)
            _render_part(name, templates[name], _largest_context(source, kind))
        except ValidationError as error:
            errors.update(error.errors)
        except Exception as error:  # any compile error is the author's to fix, never a 500
            errors[name] = _template_problem(error)
    if errors:
        return None, errors
    return (
        CompiledMessage(
            subject=templates["subject"],
            body_text=templates["body_text"],
            body_html=templates.get("body_html"),
            from_name=compose.from_name.strip(),
            from_address=address or "",
            kind=kind,
        ),
        {},
    )


async def compile_off_loop(
    compose: Compose, kind: str
) -> tuple[CompiledMessage | None, dict[str, str]]:
    """`compile_message` in a worker thread: trying a template may take up to RENDER_SECONDS."""
    return await anyio.to_thread.run_sync(compile_message, compose, kind)


def template_context(client: dict, company_name: str, unsubscribe_url: str | None) -> dict:
    """What templates see, from a row with the client's code, language and primary contact."""
    context: dict[str, Any] = {
        "client": ClientFields(
            first_name=client["first_name"],
            last_name=client["last_name"],
            full_name=f"{client['first_name']} {client['last_name']}".strip(),
            company_name=client.get("company") or "",
            email=client["email"],
            client_id=client["code"],
            language=client["language"],
            country=client["country"],
        ),
        "company": CompanyFields(name=company_name),
    }
    if unsubscribe_url is not None:
        context["unsubscribe_url"] = unsubscribe_url
    return context


def _largest_context(source: str, kind: str) -> dict:
    """The context of the largest client there can be for this template: every field at its
    longest, made of every text the template holds (what a `replace` looks for, say) and the
    letters and digits, so that whatever the template does with a value it does at most."""
    texts = {
        node.value
        for node in _sandbox(False).parse(source).find_all(nodes.Const)
        if isinstance(node.value, str) and node.value
    }
    stuff = "".join(sorted(texts)) + string.ascii_letters + string.digits + "@.-_ "

    def longest(length: int) -> str:
        return (stuff * (length // len(stuff) + 1))[:length]

    context: dict[str, Any] = {
        "client": ClientFields(**{name: longest(length) for name, length in LONGEST.items()}),
        "company": CompanyFields(name=longest(LONGEST_COMPANY_NAME)),
    }
    if kind == "marketing":
        context["unsubscribe_url"] = "https://" + longest(200)
    return context


def _render_part(name: str, template: jinja2.Template, context: dict) -> str:
    """One template for one recipient, within the bounds; ValidationError beside its field."""
    token = _budget.set(_Budget(deadline=time.monotonic() + RENDER_SECONDS))
    try:
        chunks, length = [], 0
        for chunk in template.generate(context):
            length += len(chunk)
            if length > MAX_RENDERED_CHARS:
                raise TemplateLimit(
                    f"the message would be longer than {MAX_RENDERED_CHARS:,} characters"
                )
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as error:  # a template's problem, reported beside its field
        raise ValidationError({name: _template_problem(error)}) from None
    finally:
        _budget.reset(token)


def render(compiled: CompiledMessage, context: dict) -> RenderedMessage:
    """One recipient's message. Raises ValidationError (field: problem) when a template reaches
    for something it may not; line breaks rendered into the subject become spaces. Call from a
    worker thread (see render_off_loop)."""
    parts: dict[str, str | None] = {}
    for name in ("subject", "body_text", "body_html"):
        template = getattr(compiled, name)
        parts[name] = None if template is None else _render_part(name, template, context)
    subject = " ".join((parts["subject"] or "").split())[:255]
    return RenderedMessage(
        subject=subject, body_text=parts["body_text"] or "", body_html=parts["body_html"]
    )


async def render_off_loop(compiled: CompiledMessage, context: dict) -> RenderedMessage:
    return await anyio.to_thread.run_sync(render, compiled, context)
