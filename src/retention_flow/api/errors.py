"""One place that turns errors into RFC 7807 problem bodies.

``{"type", "title", "status", "detail", "code"}`` (+ ``errors`` for validation). Our own
error tree is mapped by class; FastAPI's request validation and Starlette's HTTP errors
(unknown path 404, 405, 413 from the body limit) get the same shape.

``message_not_correlated`` answers 404: the message names a case that is not there (or
not waiting); a message matching more than one open case is a 409 ``conflict``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core import errors as e
from ..core.errors import AuthenticationFailed
from ..ocr.errors import OcrUnavailable

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


STATUS: list[tuple[type[e.RetentionFlowError], int]] = [
    (AuthenticationFailed, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.MessageNotCorrelated, 404),
    (e.Conflict, 409),
    (e.PayloadTooLarge, 413),
    (e.TooManyAttempts, 429),
    (e.ValidationFailed, 422),
    (e.InvalidProcess, 422),
    (e.ScriptError, 422),
    (OcrUnavailable, 503),
    (e.AuditKeysUnavailable, 503),
    (e.Busy, 503),
]

HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("authentication_failed", "Authentication failed"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def status_of(exc: e.RetentionFlowError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:retention-flow:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "(request)"


def install(app: FastAPI) -> None:
    @app.exception_handler(e.RetentionFlowError)
    async def domain_error(_request: Request, exc: e.RetentionFlowError) -> JSONResponse:
        return _domain_problem(exc)

    @app.exception_handler(StatementError)
    async def statement_error(request: Request, exc: StatementError) -> JSONResponse:
        # the JSON columns' encoder (core.strict_json) refused a value: the database
        # layer's own guard, answered like the door's refusal
        if isinstance(exc.orig, e.RetentionFlowError):
            return _domain_problem(exc.orig)
        if isinstance(exc, DataError):
            return await data_error(request, exc)
        return await unexpected(request, exc)

    def _domain_problem(exc: e.RetentionFlowError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            log.error("unmapped error %s: %s", exc.code, exc.detail)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, e.Busy):
            headers = {"Retry-After": str(exc.retry_after)}
        errors = exc.errors if (exc.errors or status == 422) else None
        if isinstance(exc, e.TooManyAttempts):  # 429: how long to wait
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(status, exc.code, exc.title, exc.detail, errors, headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(err["loc"]), "message": err["msg"]} for err in exc.errors()]
        first = errors[0] if errors else {"field": "(request)", "message": "invalid"}
        return problem(
            422,
            e.ValidationFailed.code,
            e.ValidationFailed.title,
            f"{first['field']}: {first['message']}",
            errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if request.scope.get("retention_flow.too_large"):
            status = 413
        code, title = HTTP_CODES.get(status, ("http_error", "HTTP error"))
        detail = str(exc.detail) if status != 413 else "the request body is too large"
        return problem(status, code, title, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def data_error(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (out of range, a NUL character in text):
        # the request is at fault, not the server.
        log.info("database refused a value: %s", exc.orig)
        return problem(
            422,
            e.ValidationFailed.code,
            e.ValidationFailed.title,
            "a value does not fit: too large, or it contains characters that cannot be stored",
            [{"field": "(request)", "message": type(exc.orig).__name__}],
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem(500, "internal_error", "Internal error", "an unexpected error occurred")
