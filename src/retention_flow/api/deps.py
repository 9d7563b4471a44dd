"""Dependencies: the application context, the current user, and the role rules.

Authorisation lives here. Every route under ``/api`` (except the token endpoint) declares
its roles with ``require_role(...)``; path parameters naming a case or a task go through
``VisibleCase`` / ``VisibleTask``, which hide other partner organisations' objects (404).
Finer rules (lane role to claim, claimant to complete) are enforced by the services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from retention_flow.services.cases import reads as queries
from retention_flow.services.people import auth
from retention_flow.services.platform.context import Actor, AppContext

from ..core.errors import AuthenticationFailed, Forbidden
from ..core.roles import SKILL_GROUPS, union_of

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


# The dependencies are ``async`` on purpose: a sync dependency costs a hop to the thread
# pool per request, more than the work it does (one indexed user lookup at most).


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


async def get_current_user(
    ctx: CtxDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Actor:
    if not token:
        raise AuthenticationFailed("not authenticated: send a bearer token")
    return auth.actor_for_token(ctx, token)


CurrentUser = Annotated[Actor, Depends(get_current_user)]
#: the raw bearer token of the request (None when it sent none)
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]

#: Roles that work queues.
WORKER_ROLES = frozenset({"agent", "team_lead", "back_office", "partner"} | SKILL_GROUPS)
READ_ALL_ROLES = frozenset({"auditor"})


def require_role(*roles: str | frozenset[str]) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = union_of(*roles)

    async def check(user: CurrentUser) -> Actor:
        if not (user.roles & allowed):
            raise Forbidden(f"this needs one of the roles: {', '.join(sorted(allowed))}")
        return user

    check.allowed_roles = allowed  # type: ignore[attr-defined]
    return check


async def visible_case(case_id: str, user: CurrentUser, ctx: CtxDep) -> str:
    queries.check_case_visible(ctx, user, case_id)
    return case_id


async def visible_task(task_id: str, user: CurrentUser, ctx: CtxDep) -> str:
    queries.check_task_visible(ctx, user, task_id)
    return task_id


VisibleCase = Annotated[str, Depends(visible_case)]
VisibleTask = Annotated[str, Depends(visible_task)]
