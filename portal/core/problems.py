"""How the JSON API answers errors: problem details (RFC 9457), `application/problem+json`.

Every error of /api/… is one, whoever raises it (a guard, a handler, a service, the app's own
404 and 503): `type` is "about:blank", so `title` is the status's phrase and `detail` says
what went wrong in this request. Field by field problems (a request that breaks the schema or a
rule of the data) are listed in `errors`, each with a JSON Pointer into the request body
(`pointer`, as in RFC 9457's own example) or the name of the parameter (`parameter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

import msgspec
from litestar import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldProblem(msgspec.Struct, omit_defaults=True):
    detail: str
    pointer: str | None = None  # into the request body, e.g. "#/phone_numbers/0/number"
    parameter: str | None = None  # a query, header or path parameter, by name


class ProblemDetails(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = []


def problem_response(
    status: int,
    detail: str,
    *,
    errors: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        ProblemDetails(
            type="about:blank",
            title=HTTPStatus(status).phrase,
            status=status,
            detail=detail,
            errors=list(errors),
        ),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
