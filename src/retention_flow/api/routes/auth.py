"""Log in (OAuth2 password form) and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from retention_flow.services.people import auth

from ..deps import BearerToken, CtxDep, CurrentUser
from ..schemas import Me, Token
from ..strict_body import api_router

router = api_router(prefix="/api", tags=["auth"])


@router.post(
    "/auth/token",
    response_model=Token,
    responses={429: {"description": "too many failed logins from this address: wait"}},
)
def login(
    ctx: CtxDep, form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request
) -> dict[str, object]:
    """Exchange a user name and password for a bearer token. After
    ``RETENTION_FLOW_LOGIN_MAX_FAILURES`` failures for a user name from one address, that
    address waits (429 with ``Retry-After``), growing with each further failure."""
    client = request.client.host if request.client else None
    return auth.login(ctx, form.username, form.password, client=client)


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(ctx: CtxDep, _user: CurrentUser, token: BearerToken) -> Response:
    """End this token now (the user's other tokens and sessions go on)."""
    if token:
        auth.revoke(ctx, token)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(username=user.username, roles=sorted(user.roles), partner=user.partner)
