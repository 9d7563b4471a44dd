"""The ``Idempotency-Key`` request header and the ``Idempotent-Replayed`` answer header.

After the IETF "Idempotency-Key HTTP Header Field" draft: the key is a Structured Field
string (``Idempotency-Key: "8e03978e-40d5"``); a bare token (``Idempotency-Key: 8e03978e``)
is taken as it is too. What a key means is in ``services/platform/idempotency.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response

from retention_flow.services.platform.idempotency import Answer

from ..core.errors import ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 200


def parse_key(raw: str | None, field: str = HEADER) -> str | None:
    """The key a header (or body field) carries; a quoted sf-string is unquoted."""
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        inner, out, escaped = key[1:-1], [], False
        for char in inner:
            if escaped or char not in '\\"':
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                raise _bad(field, "a quoted key has an unescaped '\"' inside")
        if escaped:
            raise _bad(field, "a quoted key ends with a lone '\\'")
        key = "".join(out)
    elif key.startswith('"'):
        raise _bad(field, "a quoted key must end with '\"'")
    if not key:
        raise _bad(field, "is empty")
    if len(key) > MAX_KEY:
        raise _bad(field, f"is longer than {MAX_KEY} characters")
    if any(not 0x20 <= ord(char) < 0x7F for char in key):
        raise _bad(field, "may hold only printable ASCII characters")
    return key


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {message}", errors=[{"field": field, "message": message}])


def request_key(header: str | None, body_key: str | None = None) -> str | None:
    """The request's key: the header's, or the body's ``idempotency_key``; both must agree."""
    from_header = parse_key(header)
    from_body = parse_key(body_key, "idempotency_key")
    if from_header is not None and from_body is not None and from_header != from_body:
        raise _bad("idempotency_key", f"differs from the {HEADER} header")
    return from_header if from_header is not None else from_body


def mark(response: Response, answer: Answer, key: str | None) -> None:
    """``Idempotent-Replayed: true`` on a replayed answer, ``false`` on a keyed first one."""
    if key is not None:
        response.headers[REPLAYED] = "true" if answer.replayed else "false"


def replay_responses(status: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI: the success answer's ``Idempotent-Replayed`` header."""
    header = {
        "description": "true: the stored answer of an earlier request with the same key; "
        "false: a first answer to a keyed request; absent without a key",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
    return {status: {"headers": {REPLAYED: header}}}


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=MAX_KEY + 2,
        description="once per user and operation: a repeat answers the first answer again "
        "(with Idempotent-Replayed: true); the same key with a different body is 422 "
        "idempotency_key_reused; while the first is running, 409 idempotency_key_in_flight",
    ),
]
