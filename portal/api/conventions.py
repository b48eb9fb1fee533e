"""What the operations of /api/v1 share: the calling key, cursor pages, the problems they
answer and how the schema documents them, entity tags with `If-Match`, and `Idempotency-Key`.

- **Problems** (RFC 9457, portal.core.problems): a request that breaks the schema is a 400; one
  whose data breaks a rule of the admin area's forms is a 422 with the forms' own messages,
  field by field (`errors`, with JSON Pointers into the body).
- **Lost updates**: every PATCH, PUT and DELETE needs `If-Match` with the ETag of what the
  caller read (428 without it, 412 when the thing changed since). A client's ETag is its
  version, which every change of it moves on; a contact's and a note's, which have no version,
  is a digest of what GET shows of them.
- **Retries**: a POST that creates may carry `Idempotency-Key` (portal.api.idempotency).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request, Response
from litestar._openapi.schema_generation.plugins import StructSchemaPlugin
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import ParamType
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Operation, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.params import HeaderParameter, Parameter
from litestar.status_codes import HTTP_201_CREATED
from litestar.typing import FieldDefinition
from piccolo.table import Table

from portal.api import idempotency
from portal.api.services import ApiKeyRef
from portal.core.db import locked, write_transactions
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.ids import MAX_ID, is_row_id
from portal.core.permissions import Forbidden
from portal.core.problems import PROBLEM_MEDIA_TYPE, FieldProblem, ProblemDetails

API_PATH = "/api/v1"

# --- the caller and pages ----------------------------------------------------------------------


def provide_api_key(request: Request) -> ApiKeyRef:
    return request.state.api_key


# How API handlers ask for the caller: `api_key: ApiKeyParam`.
ApiKeyParam = NamedDependency[ApiKeyRef]

Cursor = Annotated[
    int,
    Parameter(ge=0, le=MAX_ID, description="The previous page's next_cursor (0: the first page)."),
]
Limit = Annotated[int, Parameter(ge=1, le=500, description="Items per page.")]


def next_cursor(ids: Sequence[int], limit: int) -> int | None:
    """The cursor of the page after this one, whose ids were read with one more than `limit`
    to see whether a page follows (None: this is the last page)."""
    return ids[limit - 1] if len(ids) > limit else None


Page = TypeVar("Page", bound=msgspec.Struct)


def cursor_page(page: type[Page], rows: Sequence[dict], limit: int, item: Callable) -> Page:
    """A `page` (its `items` and `next_cursor`) of rows read with one more than `limit`, each
    made an item by `item`."""
    return page(
        items=[item(row) for row in rows[:limit]],
        next_cursor=next_cursor([row["id"] for row in rows], limit),
    )


# --- problems, and what the schema says of them -----------------------------------------------


def problem_spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        ProblemDetails,
        generate_examples=False,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
    )


# What any operation may answer (the router's guards, the schema's checks, overload).
ERROR_RESPONSES = {
    400: problem_spec("The request does not match the schema (field by field in `errors`)."),
    401: problem_spec("No API key, or one that is not valid or revoked."),
    403: problem_spec("The API key does not have the permission this operation needs."),
    503: problem_spec(
        "Busy, or a service the portal needs is down: nothing was changed. "
        "Try again after Retry-After seconds."
    ),
}
CLIENT_NOT_FOUND = {404: problem_spec("No such client in the key's company.")}
CONTACT_NOT_FOUND = {
    404: problem_spec("No such client in the key's company, or no such contact of the client.")
}
NOTE_NOT_FOUND = {
    404: problem_spec("No such client in the key's company, or no such note of the client.")
}
INVALID_DATA = {
    413: problem_spec("The request body is larger than 2 MB."),
    422: problem_spec(
        "The data breaks a rule of the admin area's forms: their messages, field by field in "
        "`errors`. Nothing was changed."
    ),
}
PRECONDITIONS = {
    412: problem_spec(
        "It was changed since the ETag sent in If-Match was read: read it again. Nothing was "
        "changed."
    ),
    428: problem_spec("If-Match is missing: send the ETag of what you read."),
}
IDEMPOTENCY = {
    409: problem_spec(
        "The first request with this Idempotency-Key has not finished: try again shortly."
    ),
    422: problem_spec(
        "The data breaks a rule of the admin area's forms (field by field in `errors`), or "
        "the Idempotency-Key was used for another request. Nothing was changed."
    ),
}


class ApiProblem(HTTPException):
    """An error of the API's own, answered as a problem document with its field `errors`."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.errors = list(errors)


def _sentences(error: ValidationError) -> str:
    return " ".join(str(message) for message in error.errors.values())


def bad_request(error: ValidationError, *, in_body: bool = False) -> ApiProblem:
    """A service's field errors about the request's parameters (or, `in_body`, its body's
    members) as a 400."""
    return ApiProblem(
        400,
        _sentences(error),
        [
            FieldProblem(detail=message, pointer=f"#/{key}")
            if in_body
            else FieldProblem(detail=message, parameter=key or None)
            for key, message in error.errors.items()
        ],
    )


PHONE_ROW_KEY = re.compile(r"phone-(number|type|location)-([0-9]+)")


def pointer_of(key: str, renamed: Mapping[str, str]) -> str | None:
    """Where in the request body the problem a service names `key` is: the fields of the
    admin area's forms are the body's members (some `renamed`), its phone rows the
    `phone_numbers` by index, its custom fields the `custom_fields` by id; "" is the request
    as a whole."""
    if not key:
        return None
    if match := PHONE_ROW_KEY.fullmatch(key):
        return f"#/phone_numbers/{match[2]}/{match[1]}"
    if key == "phone-rows":
        return "#/phone_numbers"
    if key.startswith("custom_"):
        return f"#/custom_fields/{key.removeprefix('custom_')}"
    return f"#/{renamed.get(key, key)}"


@contextmanager
def as_problems(renamed: Mapping[str, str] | None = None) -> Iterator[None]:
    """A service's ValidationError as a 422 problem, its messages by body member."""
    try:
        yield
    except ValidationError as error:
        raise ApiProblem(
            422,
            _sentences(error),
            [
                FieldProblem(detail=message, pointer=pointer_of(key, renamed or {}))
                for key, message in error.errors.items()
            ],
        ) from None


AT_PATH = re.compile(r"^(?P<message>.*) - at `(?:key` in `)?\$(?P<path>[^`]*)`$", re.DOTALL)


Body = TypeVar("Body", bound=msgspec.Struct)


def _integral(value: Any) -> Any:
    """JSON numbers as JSON Schema reads them: 2.0 is the integer 2."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(item) for item in value]
    if isinstance(value, dict):
        return {name: _integral(item) for name, item in value.items()}
    return value


async def read_strictly(request: Request, data: Body) -> Body:
    """The request body as the schema says it, strictly. Litestar reads bodies leniently
    (`"true"` for true, `"1"` for 1), so the handler reads its body again, refusing what
    Litestar let through."""
    try:
        return msgspec.convert(
            _integral(msgspec.json.decode(await request.body())), type=type(data), strict=True
        )
    except msgspec.ValidationError as error:
        found = AT_PATH.match(str(error))
        message, path = (found["message"], found["path"]) if found else (str(error), "")
        pointer = "#" + path.replace("[...]", "").replace("]", "").replace("[", ".").replace(
            ".", "/"
        )
        raise ApiProblem(
            400,
            f"The request does not match the schema: {pointer}: {message}",
            [FieldProblem(detail=message, pointer=pointer)],
        ) from None


# --- entity tags and If-Match ------------------------------------------------------------------

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=True,  # documented so; answered with 428 when missing (require_match)
        max_length=1000,
        pattern=r'^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$',
        description="The ETag of what you read (GET). Without it: 428; when it changed since: "
        "412, and nothing is changed.",
    ),
]


def answer_header(name: str, description: str, *, required: bool = True) -> ResponseHeader:
    """A header that answers carry, as the schema documents it: a string, which each answer
    sets to its own value."""
    return ResponseHeader(
        name=name, value="", description=description, documentation_only=True, required=required
    )


ETAG_HEADER = answer_header(
    "ETag", "Its entity tag now: send it in If-Match to change or delete it."
)


def version_tag(version: int) -> str:
    """A client's ETag: its version, which every change of the client moves on."""
    return f'"{version}"'


def content_tag(representation: msgspec.Struct) -> str:
    """The ETag of what has no version (contacts, notes): a digest of what GET shows of it."""
    return '"' + hashlib.sha256(msgspec.json.encode(representation)).hexdigest()[:32] + '"'


def require_match(if_match: str | None, etag: str, what: str) -> None:
    """Strong comparison (RFC 9110, 13.1.1): a weak tag never matches; `*` matches what
    exists."""
    if if_match is None:
        raise ApiProblem(
            428,
            f"Send If-Match with the ETag of the {what} as you read it, so that no change "
            "you have not seen is overwritten.",
        )
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" not in tags and etag not in tags:
        raise ApiProblem(
            412,
            f"The {what} was changed since you read it: read it again, then send your change "
            "with its new ETag. Nothing was changed.",
        )


def precondition_failed(what: str) -> ApiProblem:
    """A change that met another writer's between the If-Match check and its own write."""
    return ApiProblem(
        412,
        f"The {what} was changed meanwhile: read it again, then send your change with its new "
        "ETag. Nothing was changed.",
    )


# --- answers and Idempotency-Key ---------------------------------------------------------------

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        pattern=r"^[!-~]{1,255}$",
        description="Any unique value (e.g. a UUID), to send the request again safely: the "
        "same key with the same request within a day gets the first answer again "
        "(with Idempotent-Replayed: true) and does nothing twice; with another request, 422; "
        "while the first has not finished, 409.",
    ),
]
LOCATION_HEADER = answer_header("Location", "Where the new resource is read.")
REPLAYED_HEADER = answer_header(
    "Idempotent-Replayed",
    "`true` on the stored answer to a request sent again with its Idempotency-Key.",
    required=False,
)
# What an answer keeps when it is stored for an Idempotency-Key.
KEPT_HEADERS = ("Location", "ETag")
# Refusals that come before anything is changed: the Idempotency-Key may be used again.
NOTHING_DONE = (ValidationError, NotFound, Forbidden, Conflict, HTTPException)


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: msgspec.Struct
    headers: dict[str, str]


def respond(answer: idempotency.StoredAnswer, *, replayed: bool = False) -> Response:
    headers = {**answer.headers, **({"Idempotent-Replayed": "true"} if replayed else {})}
    return Response(
        content=answer.body,
        status_code=answer.status_code,
        media_type="application/json",
        headers=headers,
    )


def stored(answer: Answer) -> idempotency.StoredAnswer:
    return idempotency.StoredAnswer(
        status_code=answer.status_code,
        body=msgspec.json.encode(answer.content),
        headers={name: answer.headers[name] for name in KEPT_HEADERS if name in answer.headers},
    )


def created(content: msgspec.Struct, location: str, etag: str) -> Answer:
    return Answer(HTTP_201_CREATED, content, {"Location": location, "ETag": etag})


async def idempotently(
    request: Request,
    api_key: ApiKeyRef,
    key: str | None,
    data: msgspec.Struct,
    carry_out: Callable[[], Awaitable[Answer]],
) -> Response:
    """Carries the request out once per Idempotency-Key (none: every time). The same request
    is the same method, path and body as parsed (the order of its members and its spacing do
    not matter)."""
    if key is None:
        return respond(stored(await carry_out()))
    hashed = idempotency.request_hash(request.method, request.url.path, msgspec.json.encode(data))
    try:
        first = await idempotency.claim(api_key.id, key, hashed)
    except idempotency.KeyReused:
        raise ApiProblem(
            422,
            "This Idempotency-Key was used for another request (another path or body): use a "
            "new key for a new request. Nothing was changed.",
        ) from None
    except idempotency.KeyInUse:
        raise ApiProblem(
            409,
            "The first request with this Idempotency-Key has not finished: send it again in a "
            "moment to get its answer. (If it never finishes, it was interrupted and may or may "
            "not have been carried out: look, then use a new key.)",
            headers={"Retry-After": "1"},
        ) from None
    if first is not None:
        return respond(first, replayed=True)
    try:
        answer = stored(await carry_out())
    except NOTHING_DONE:
        await idempotency.release(api_key.id, key)
        raise
    await idempotency.complete(api_key.id, key, answer)
    return respond(answer)


# --- what the operations on one kind of thing share ---------------------------------------------

Detail = TypeVar("Detail", bound=msgspec.Struct)
Result = TypeVar("Result")


def reading(not_found: dict) -> dict[str, Any]:
    """What the schema says a GET of one thing answers besides its 200 (keywords of the
    route's decorator)."""
    return {"responses": not_found, "response_headers": [ETAG_HEADER]}


def adding(not_found: dict | None = None) -> dict[str, Any]:
    """What the schema says a POST that adds a thing (once per Idempotency-Key) answers
    besides its 201; `not_found`, when it adds to something that may not exist."""
    return {
        "responses": {**(not_found or {}), **INVALID_DATA, **IDEMPOTENCY},
        "response_headers": [LOCATION_HEADER, ETAG_HEADER, REPLAYED_HEADER],
    }


def editing(not_found: dict, *, invalid: bool = True) -> dict[str, Any]:
    """What the schema says a PATCH or PUT that changes a thing (with If-Match) answers
    besides its 200 with the thing and its ETag; `invalid`: its data may break a rule (422)."""
    return {
        "responses": {**not_found, **(INVALID_DATA if invalid else {}), **PRECONDITIONS},
        "response_headers": [ETAG_HEADER],
    }


def deleting(not_found: dict, *, refusals: dict | None = None) -> dict[str, Any]:
    """What the schema says a DELETE (with If-Match) answers besides its 204; `refusals`, what
    else it may answer."""
    return {"responses": {**not_found, **PRECONDITIONS, **(refusals or {})}}


@dataclass(frozen=True)
class Resource(Generic[Detail]):
    """A kind of thing /api/v1 reads and changes (a client, a contact, a note), and the steps
    its operations share: answering with it and its ETag, adding it once per Idempotency-Key,
    and changing it only when If-Match names it as it is.

    `read(company_id, *ids)`: it as GET shows it, and its ETag (NotFound when the company has
    no such thing). `url(*ids)`: where it is read. `hold(company_id, *ids)`, inside a write
    transaction: it locked until commit, and its ETag (with it as GET shows it, or None)."""

    what: str
    read: Callable[..., Awaitable[tuple[Detail, str]]]
    url: Callable[..., str]
    hold: Callable[..., Awaitable[tuple[Detail | None, str]]]

    async def answer(self, company_id: int, *ids: int) -> Response:
        """200, with it as GET shows it and its ETag."""
        detail, etag = await self.read(company_id, *ids)
        return respond(stored(Answer(200, detail, {"ETag": etag})))

    async def add(
        self,
        request: Request,
        api_key: ApiKeyRef,
        idempotency_key: str | None,
        data: Body,
        add: Callable[[Body], Awaitable[int]],
        *parent: int,
    ) -> Response:
        """201, with what `add` added from the body sent (read strictly; `add` returns its id,
        below the `parent` ids), its Location and its ETag; once per Idempotency-Key."""
        sent = await read_strictly(request, data)

        async def carry_out() -> Answer:
            new_id = await add(sent)
            detail, etag = await self.read(api_key.company_id, *parent, new_id)
            return created(detail, self.url(*parent, new_id), etag)

        return await idempotently(request, api_key, idempotency_key, sent, carry_out)

    async def edit(
        self,
        request: Request,
        data: Body,
        company_id: int,
        ids: Sequence[int],
        change: Callable[[Body], Awaitable[object]],
    ) -> Response:
        """200, with it and its ETag once `change` made the change the body sent (read
        strictly) asks for."""
        await change(await read_strictly(request, data))
        return await self.answer(company_id, *ids)

    async def edit_held(
        self,
        request: Request,
        data: Body,
        if_match: str | None,
        company_id: int,
        ids: Sequence[int],
        change: Callable[[Body, Detail | None], Awaitable[object]],
    ) -> Response:
        """`edit`, with the change made as `change_held` makes it: `change(sent, held)`."""

        async def change_held(sent: Body) -> None:
            await self.change_held(if_match, company_id, ids, partial(change, sent))

        return await self.edit(request, data, company_id, ids, change_held)

    def check(self, if_match: str | None, etag: str) -> None:
        require_match(if_match, etag, self.what)

    def changed_meanwhile(self) -> ApiProblem:
        return precondition_failed(self.what)

    async def change_held(
        self,
        if_match: str | None,
        company_id: int,
        ids: Sequence[int],
        change: Callable[[Detail | None], Awaitable[Result]],
    ) -> Result:
        """In one write transaction: it held, checked against If-Match, then `change`d (given
        it as `hold` read it), so that what was checked is what changes."""
        if not all(is_row_id(row_id) for row_id in ids):
            raise NotFound()
        async for transaction in write_transactions():
            async with transaction:
                detail, etag = await self.hold(company_id, *ids)
                self.check(if_match, etag)
                result = await change(detail)
        return result

    @classmethod
    def of_client(
        cls,
        what: str,
        collection: str,
        table: type[Table],
        shown: Callable[[int, int, int], Awaitable[Detail]],
    ) -> Resource[Detail]:
        """A thing a client has (a row of `table` with a `client` column), read at
        /clients/{client_id}/`collection`/{id}: `shown(company_id, client_id, id)` is it as GET
        shows it. It has no version: its ETag is a digest of what GET shows (content_tag)."""

        async def read(company_id: int, client_id: int, row_id: int) -> tuple[Detail, str]:
            detail = await shown(company_id, client_id, row_id)
            return detail, content_tag(detail)

        async def hold(company_id: int, client_id: int, row_id: int) -> tuple[Detail, str]:
            """The row locked until commit, then read."""
            await locked(
                table.select(table.id).where(table.id == row_id, table.client == client_id)  # type: ignore[attr-defined]
            )
            return await read(company_id, client_id, row_id)

        return cls(
            what,
            read=read,
            url=lambda client_id, row_id: f"{API_PATH}/clients/{client_id}/{collection}/{row_id}",
            hold=hold,
        )


# --- the schema --------------------------------------------------------------------------------


@dataclass
class ApiOperation(Operation):
    """An operation of the API as its schema shows it. Header parameters are text: one that is
    optional in Python (If-Match is checked by the handler, to answer 428; Idempotency-Key may
    be left out) is documented as a string, not Litestar's string-or-null, which no header can
    be."""

    def __post_init__(self) -> None:
        for parameter in self.parameters or ():
            if (
                isinstance(parameter, OpenAPIParameter)
                and parameter.param_in == ParamType.HEADER
                and isinstance(parameter.schema, Schema)
                and parameter.schema.one_of
            ):
                parameter.schema.one_of = None
                parameter.schema.type = OpenAPIType.STRING


class RequestBodySchemaPlugin(StructSchemaPlugin):
    """Request bodies (Structs that forbid unknown fields) say so (`additionalProperties:
    false`), and their members that may be left out (UNSET) are documented as their type
    alone, not as a one-member oneOf. (Litestar's plugin for Structs, extended here, has no
    public import path.)"""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            msgspec.inspect.type_info(field_definition.type_).forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        for name, member in (schema.properties or {}).items():
            if (
                isinstance(member, Schema)
                and member.one_of
                and len(member.one_of) == 1
                and isinstance(member.one_of[0], Schema)
            ):
                # The member's own type, with what Litestar put beside the oneOf (a length, a
                # description).
                beside = {
                    attribute.name: getattr(member, attribute.name)
                    for attribute in fields(member)
                    if attribute.name != "one_of" and getattr(member, attribute.name) is not None
                }
                schema.properties[name] = replace(member.one_of[0], **beside)
        return schema
