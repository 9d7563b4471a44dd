"""The customer's self-service offer page: ``/s/<token>`` from the letter, no login.

Three screens on one address: the offers (pick one or decline, optionally rate the
contact), a confirmation of the choice, and the thank-you page. What the customer sees
is only their first name and the offers printed on their letter
(``services/outreach/self_service.py``). A link that cannot be used answers a plain page: 404 for
a link that never existed, 410 once it was used or has expired; too many requests from
one address answer 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from retention_flow.services.outreach import self_service
from retention_flow.services.outreach.self_service import DECLINE, LinkNotUsable, LinkView

from ..core.errors import TooManyAttempts, ValidationFailed
from .session import PageCtx, page_router
from .templating import render

router = page_router()

TEMPLATE = "self_service.html"


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _unusable(ctx: PageCtx, request: Request, exc: LinkNotUsable) -> Response:
    status = 404 if "not valid" in exc.detail else 410
    return render(
        ctx, request, TEMPLATE, {"screen": "unusable", "message": exc.detail}, status_code=status
    )


def _busy(ctx: PageCtx, request: Request, exc: TooManyAttempts) -> Response:
    return render(
        ctx,
        request,
        TEMPLATE,
        {"screen": "unusable", "message": exc.detail},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


@router.get("/s/{token}", response_class=HTMLResponse)
def offer_page(request: Request, ctx: PageCtx, token: str) -> Response:
    view = _open(ctx, request, token)
    return view if isinstance(view, Response) else _choose(ctx, request, token, view)


def _open(ctx: PageCtx, request: Request, token: str) -> LinkView | Response:
    """The link's view (the request counted), or the page saying why it cannot be used."""
    try:
        return self_service.open_link(ctx, token, _client(request))
    except LinkNotUsable as exc:
        return _unusable(ctx, request, exc)
    except TooManyAttempts as exc:
        return _busy(ctx, request, exc)


def _choose(
    ctx: PageCtx,
    request: Request,
    token: str,
    view: LinkView,
    choice: str = "",
    csat: str = "",
    error: str | None = None,
) -> Response:
    context = {
        "screen": "choose",
        "token": token,
        "view": view,
        "decline": DECLINE,
        "choice": choice,
        "csat": csat,
        "error": error,
    }
    return render(ctx, request, TEMPLATE, context, status_code=422 if error else 200)


@router.post("/s/{token}", response_class=HTMLResponse)
def answer_offer(
    request: Request,
    ctx: PageCtx,
    token: str,
    choice: Annotated[str, Form()] = "",
    csat: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Without ``confirm``: show the choice to confirm. With it: take the answer."""
    view = _open(ctx, request, token)
    if isinstance(view, Response):
        return view
    try:
        rating = _rating(csat)
        self_service.check_choice(view, choice, rating)
        if not confirm:
            context = {"screen": "confirm", "token": token, "view": view, "decline": DECLINE}
            context |= {"choice": choice, "title": view.title_of(choice), "csat": csat}
            return render(ctx, request, TEMPLATE, context)
        answered = self_service.answer(ctx, view, choice, rating)
    except LinkNotUsable as exc:
        return _unusable(ctx, request, exc)
    except ValidationFailed as exc:
        return _choose(ctx, request, token, view, choice, csat, exc.detail)
    context = {"screen": "done", "answer": answered, "view": view, "decline": DECLINE}
    return render(ctx, request, TEMPLATE, context)


def _rating(csat: str) -> int | None:
    if not csat.strip():
        return None
    if csat.strip() not in {"1", "2", "3", "4", "5"}:
        raise ValidationFailed("A rating is a number from 1 to 5.")
    return int(csat)
