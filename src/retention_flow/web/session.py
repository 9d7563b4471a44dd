"""The web UI's login session and CSRF protection.

Session: the same signed, expiring token the API issues (``services.auth``), kept in an
HttpOnly, SameSite=Lax cookie (``Secure`` when ``session_cookie_secure``), with its own
lifetime (``session_ttl_minutes``). Every request re-checks it through
``auth.actor_for_token``, so an expired session, a disabled user or a changed password
(token version) ends it: the page answers with a redirect to the login page and a plain
message.

CSRF: a signed double-submit token. A random nonce lives in the HttpOnly ``rf_csrf``
cookie; forms carry ``HMAC(secret, nonce)`` in the ``csrf_token`` field (htmx requests in
the ``X-CSRF-Token`` header, set once on ``<body>``). Every unsafe request to a page
router (see ``page_router``) must match, or it is refused. The nonce is replaced at login
and logout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response

from retention_flow.services.people import auth
from retention_flow.services.platform.context import Actor, AppContext

from ..core.errors import AuthenticationFailed, Forbidden
from ..core.roles import union_of

SESSION_COOKIE = "rf_session"
CSRF_COOKIE = "rf_csrf"
FLASH_COOKIE = "rf_flash"
#: the user name of the last login in this browser (removed at logout): a request without a
#: session cookie but with this one had a session that ended, and is told so
USER_COOKIE = "rf_user"
#: what an agent typed when their session ended on submit, restored after the login
DRAFT_COOKIE = "rf_draft"
DRAFT_MAX = 3000  # bytes of JSON kept (a cookie holds about 4 KB)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(AuthenticationFailed):
    """No valid session: the page answers with a redirect to the login page."""

    code = "login_required"

    def __init__(self, detail: str, *, message: str | None = None) -> None:
        super().__init__(detail)
        self.message = message  # shown on the login page; None: no session at all


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


PageCtx = Annotated[AppContext, Depends(get_ctx)]


def _sign(ctx: AppContext, purpose: str, value: str) -> str:
    key = ctx.settings.secret_key.encode()
    return hmac.new(key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- session


async def web_user(request: Request, ctx: PageCtx) -> Actor:
    """The logged-in user of a page (``LoginRequired`` otherwise)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        if request.cookies.get(USER_COOKIE):  # logged in here before, never logged out
            raise LoginRequired(
                "session cookie missing", message="Your session has ended. Please log in again."
            )
        raise LoginRequired("not logged in")
    try:
        return auth.actor_for_token(ctx, token)
    except AuthenticationFailed as exc:
        raise LoginRequired(
            exc.detail, message="Your session has ended. Please log in again."
        ) from exc


WebUser = Annotated[Actor, Depends(web_user)]


def require_page_role(*roles: str | frozenset[str]) -> Callable[[Actor], Awaitable[Actor]]:
    """A page for the holders of any of ``roles`` (others see a 403 page)."""
    allowed = union_of(*roles)

    async def check(user: WebUser) -> Actor:
        if not (user.roles & allowed):
            raise Forbidden("this page is for another role: " + ", ".join(sorted(allowed)))
        return user

    check.allowed_roles = allowed  # type: ignore[attr-defined]
    return check


def start_session(
    ctx: AppContext, response: Response, username: str, password: str, client: str | None
) -> None:
    """Check the credentials (``AuthenticationFailed``, or ``TooManyAttempts`` while the
    ``client`` address must wait) and set the session cookie."""
    ttl = ctx.settings.session_ttl_minutes
    token = auth.login(ctx, username, password, ttl_minutes=ttl, client=client)["access_token"]
    _set_cookie(ctx, response, SESSION_COOKIE, token, ttl * 60)
    _set_cookie(ctx, response, CSRF_COOKIE, secrets.token_urlsafe(24), None)
    _set_cookie(ctx, response, USER_COOKIE, quote(username, safe=""), 365 * 24 * 3600)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.delete_cookie(USER_COOKIE, path="/")


def _set_cookie(
    ctx: AppContext, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.session_cookie_secure,
    )


def login_url(next_path: str = "/", reason: str | None = None) -> str:
    url = "/login?next=" + quote(safe_next(next_path), safe="/")
    return url + ("&reason=" + reason if reason else "")


def safe_next(path: str | None) -> str:
    """Only a local path may follow the login (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


# --------------------------------------------------------------------------- CSRF


def csrf_token(ctx: AppContext, request: Request, response: Response | None = None) -> str:
    """The token for this browser's forms; sets the nonce cookie when it has none yet."""
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.csrf_nonce = nonce
    if response is not None and request.cookies.get(CSRF_COOKIE) != nonce:
        _set_cookie(ctx, response, CSRF_COOKIE, nonce, None)
    return _sign(ctx, "csrf", nonce)


async def csrf_protect(request: Request, ctx: PageCtx) -> None:
    """Refuse an unsafe request whose token does not match this browser's nonce."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    nonce = request.cookies.get(CSRF_COOKIE)
    if not sent or not nonce or not hmac.compare_digest(sent, _sign(ctx, "csrf", nonce)):
        raise Forbidden("the form has expired: reload the page and try again")


def page_router() -> APIRouter:
    """The router every page module uses: hidden from OpenAPI, tagged ``web`` (the API's
    authorisation matrix leaves those to the page matrix), CSRF-checked."""
    return APIRouter(include_in_schema=False, tags=["web"], dependencies=[Depends(csrf_protect)])


# --------------------------------------------------------------------------- drafts


def save_draft(ctx: AppContext, response: Response, task_id: str, values: dict[str, str]) -> None:
    """Keep the values of a form whose submit found no session, for that task's page
    after the login (signed; long values are cut so the cookie stays under its size)."""
    kept = {k: v[:1000] for k, v in values.items() if k != CSRF_FIELD and isinstance(v, str)}
    raw = json.dumps({"task": task_id, "values": kept}, ensure_ascii=False)
    while len(raw.encode()) > DRAFT_MAX and kept:
        kept.pop(max(kept, key=lambda k: len(kept[k])))
        raw = json.dumps({"task": task_id, "values": kept}, ensure_ascii=False)
    body = base64.urlsafe_b64encode(raw.encode()).decode()
    _set_cookie(ctx, response, DRAFT_COOKIE, f"{body}.{_sign(ctx, 'draft', body)[:32]}", 3600)


def read_draft(ctx: AppContext, request: Request, task_id: str) -> dict[str, str] | None:
    """The values kept for ``task_id`` (None when there are none, or they are another
    task's, or the cookie is not ours)."""
    raw = request.cookies.get(DRAFT_COOKIE)
    if not raw or "." not in raw:
        return None
    body, sig = raw.rsplit(".", 1)
    if not hmac.compare_digest(sig, _sign(ctx, "draft", body)[:32]):
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(body.encode()).decode())
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("task") != task_id:
        return None
    values = found.get("values")
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else None


def drop_draft(response: Response) -> None:
    response.delete_cookie(DRAFT_COOKIE, path="/")


async def optional_web_user(request: Request, ctx: PageCtx) -> Actor | None:
    """The logged-in user, or None without a valid session (the page decides)."""
    try:
        return await web_user(request, ctx)
    except LoginRequired:
        return None


# --------------------------------------------------------------------------- flash


def flash(ctx: AppContext, response: Response, text: str, kind: str = "info") -> None:
    """A one-time message shown on the next page (signed, so nobody can plant text)."""
    body = base64.urlsafe_b64encode(f"{kind}|{text}".encode()).decode()
    _set_cookie(ctx, response, FLASH_COOKIE, f"{body}.{_sign(ctx, 'flash', body)[:32]}", 120)


def read_flash(ctx: AppContext, request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    body, sig = raw.rsplit(".", 1)
    if not hmac.compare_digest(sig, _sign(ctx, "flash", body)[:32]):
        return None
    try:
        kind, text = base64.urlsafe_b64decode(body.encode()).decode().split("|", 1)
    except ValueError:
        return None
    return kind, text
