"""Login, logout and the start page (which sends each user to their first page)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.people import auth

from ..core.errors import AuthenticationFailed, TooManyAttempts
from .session import (
    SESSION_COOKIE,
    LoginRequired,
    PageCtx,
    WebUser,
    end_session,
    page_router,
    safe_next,
    start_session,
    web_user,
)
from .templating import nav_for, render

router = page_router()

REASONS = {
    "expired": "Your session has ended. Please log in again.",
    "logged_out": "You are logged out.",
}


@router.get("/", response_class=HTMLResponse)
def home(user: WebUser) -> Response:
    """The user's first page; a team lead lands on the team view (their work is the
    team's, even when they also hold an agent's role)."""
    if "team_lead" in user.roles:
        return RedirectResponse("/team", status_code=303)
    items = nav_for(user)
    return RedirectResponse(items[0].path if items else "/account", status_code=303)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, ctx: PageCtx, user: WebUser) -> Response:
    return render(ctx, request, "account.html", user=user)


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, ctx: PageCtx, next: str = "/", reason: str | None = None
) -> Response:
    try:
        user = await web_user(request, ctx)
    except LoginRequired:
        user = None
    if user is not None and reason is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        ctx, request, "login.html", {"next": safe_next(next), "notice": REASONS.get(reason or "")}
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    ctx: PageCtx,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    client = request.client.host if request.client else None
    try:
        start_session(ctx, response, username.strip(), password, client)
    except AuthenticationFailed:
        context = {
            "next": safe_next(next),
            "error": "Wrong user name or password.",
            "username": username,
        }
        return render(ctx, request, "login.html", context, status_code=401)
    except TooManyAttempts as exc:
        return render(
            ctx,
            request,
            "login.html",
            {"next": safe_next(next), "error": _wait_message(exc), "username": username},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return response


def _wait_message(exc: TooManyAttempts) -> str:
    """The service's wait, said to a person (the wording of the API detail, capitalised)."""
    detail = exc.detail.replace("invalid user name or password", "wrong user name or password")
    return detail[:1].upper() + detail[1:] + "."


@router.post("/logout")
def logout(request: Request, ctx: PageCtx) -> Response:
    """End the session: its token is revoked (a copy of the cookie no longer works),
    then the cookies are removed."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with contextlib.suppress(AuthenticationFailed):  # invalid token: nothing to end
            auth.revoke(ctx, token)
    response = RedirectResponse("/login?reason=logged_out", status_code=303)
    end_session(response)
    return response
