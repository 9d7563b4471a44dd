"""Errors on pages: the API's handlers answer problem JSON; for a page route the same
errors become a page in plain words (or, for a missing session, a redirect to login).

``install`` wraps the handlers ``api.errors`` registered, so there is still one mapping
of error to status (``api.errors.status_of``) and API routes keep their answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core import errors as e
from .session import LoginRequired, login_url, web_user
from .templating import render

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer


#: What a person reads for an error code (the detail is shown below it, smaller).
PLAIN: dict[str, str] = {
    "not_found": "This page does not exist, or it is not yours to see.",
    "forbidden": "This page is not available with your role.",
    "task_not_ready": "Someone else completed this task, or it is no longer open.",
    "task_already_claimed": "Someone else is already working on this task.",
    "task_not_claimed": "This task is not claimed.",
    "skills_missing": "This task needs a skill you do not have (yet).",
    "case_conflict": "The case changed while you were working on it. Please try again.",
    "case_not_active": "This case is closed.",
    "case_suspended": "This case is suspended: it must be resumed first.",
    "incident_not_open": "This incident was already retried or resolved.",
    "validation_failed": "Some values are missing or wrong.",
    "payload_too_large": "The upload is too large.",
    "ocr_unavailable": "Scanned forms cannot be read right now (the OCR engine is missing).",
    "busy": "The server is busy reading other scans; try again in a moment.",
    "conflict": "Someone else changed this meanwhile. Please reload and try again.",
}


def plain_words(exc: e.RetentionFlowError) -> str:
    """The sentence for the error's code, or for the nearest parent class that has one."""
    for cls in type(exc).__mro__:
        text = PLAIN.get(getattr(cls, "code", ""))
        if text:
            return text
    return "Something went wrong."


def is_page(request: Request) -> bool:
    """Whether the request was routed to a page (an endpoint in ``retention_flow.web``)."""
    endpoint = request.scope.get("endpoint")
    return getattr(endpoint, "__module__", "").startswith("retention_flow.web")


async def error_page(
    request: Request, status: int, title: str, message: str, detail: str
) -> Response:
    """The error in plain words, with the navigation when the session is still good."""
    ctx = request.app.state.ctx
    try:
        user = await web_user(request, ctx)
    except e.RetentionFlowError:
        user = None
    context = {"title": title, "message": message, "detail": detail, "status": status}
    return render(ctx, request, "error.html", context, user=user, status_code=status)


def install(app: FastAPI) -> None:
    domain: Handler = app.exception_handlers[e.RetentionFlowError]
    http: Handler = app.exception_handlers[StarletteHTTPException]
    crash: Handler = app.exception_handlers[Exception]

    async def domain_error(request: Request, exc: e.RetentionFlowError) -> Response:
        if not is_page(request):
            return await _call(domain, request, exc)
        if isinstance(exc, LoginRequired | e.AuthenticationFailed):
            message = getattr(exc, "message", None)
            target = login_url(_back_to(request), "expired" if message else None)
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        status = (await _call(domain, request, exc)).status_code  # the API's one status mapping
        return await error_page(request, status, exc.title, plain_words(exc), exc.detail)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_page(request):
            return await _call(http, request, exc)
        return await error_page(
            request, exc.status_code, "Error", "The request could not be handled.", str(exc.detail)
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        answer = await _call(crash, request, exc)  # logs it
        if not is_page(request):
            return answer
        return await error_page(
            request, 500, "Error", "Something went wrong on our side.", "the error was logged"
        )

    app.add_exception_handler(e.RetentionFlowError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)


def _back_to(request: Request) -> str:
    """Where the login should lead: this page, or for an htmx refresh the page around it."""
    current = request.headers.get("hx-current-url")
    if current:
        return urlsplit(current).path or "/"
    if request.method != "GET":
        return "/"
    query = request.url.query
    return request.url.path + ("?" + query if query else "")
