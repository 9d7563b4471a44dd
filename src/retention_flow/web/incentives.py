"""Quality reviews, incentive payouts and an agent's own results, as pages.

- ``/qa``: a reviewer's review tasks (stewards: all, and the button that draws a
  period's sample); ``/qa/reviews/{id}``: the case beside the checklist form.
- ``/payouts``: a period's statements, run them, export the approved ones for payroll;
  ``/payouts/{id}``: every component, Approve (four eyes), a correction.
- ``/me``: an agent's own scorecard, QA reviews and payouts.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.incentives import payouts, qa
from retention_flow.services.insight import kpis
from retention_flow.services.platform.context import Actor, AppContext

from ..core.errors import Conflict, Forbidden, ValidationFailed
from . import forms
from .errors import plain_words
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

QaReader = Annotated[
    Actor, Depends(require_page_role("qa", "team_lead", "auditor", "admin", "process_owner"))
]
QaSteward = Annotated[Actor, Depends(require_page_role("team_lead", "admin", "process_owner"))]
Reviewer = Annotated[Actor, Depends(require_page_role("qa"))]
Payroll = Annotated[Actor, Depends(require_page_role(*payouts.PAYOUT_ROLES))]
Agent = Annotated[Actor, Depends(require_page_role("agent"))]
Id = Annotated[str, Path(max_length=36)]
Period = Annotated[str, Query(pattern=r"^(\d{4}-\d{2})?$")]


def _this_month(ctx: AppContext) -> str:
    now = ctx.now().astimezone(UTC)
    return f"{now.year}-{now.month:02d}"


def _back(ctx: AppContext, target: str, message: str, kind: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    flash(ctx, response, message, kind)
    return response


@router.get("/qa", response_class=HTMLResponse)
def reviews(request: Request, ctx: PageCtx, user: QaReader, period: Period = "") -> Response:
    chosen = period or _this_month(ctx)
    context = {
        "reviews": qa.list_reviews(ctx, user, period=period or None),
        "period": chosen,
        "agreement": qa.agreement(ctx, chosen),
        "may_draw": bool(user.roles & {"team_lead", "admin", "process_owner"}),
    }
    return render(ctx, request, "qa.html", context, user=user)


@router.post("/qa/samples")
async def draw(request: Request, ctx: PageCtx, user: QaSteward) -> Response:
    period = str((await request.form()).get("period") or "")
    try:
        drawn = qa.draw_sample(ctx, user, period)
    except (Conflict, ValidationFailed) as exc:
        return _back(ctx, "/qa", plain_words(exc), "error")
    message = f"Drew {drawn.samples} cases of {period}: {drawn.reviews} reviews to do."
    return _back(ctx, f"/qa?period={period}", message, "ok")


def _review_page(
    ctx: AppContext,
    request: Request,
    user: Actor,
    review_id: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    review = qa.get_review(ctx, user, review_id)
    shown = values if values is not None else review.answers or {}
    context = {
        "review": review,
        "fields": forms.fields_of(review.form_schema, shown, errors),
        "may_submit": review.state == "open" and review.reviewer == user.username,
    }
    return render(ctx, request, "qa_review.html", context, user=user, status_code=status_code)


@router.get("/qa/reviews/{review_id}", response_class=HTMLResponse)
def review(request: Request, ctx: PageCtx, user: QaReader, review_id: Id) -> Response:
    return _review_page(ctx, request, user, review_id)


@router.post("/qa/reviews/{review_id}", response_class=HTMLResponse)
async def submit(request: Request, ctx: PageCtx, user: Reviewer, review_id: Id) -> Response:
    found = qa.get_review(ctx, user, review_id)
    answers = forms.parse(found.form_schema, dict(await request.form()))
    try:
        done = qa.submit(ctx, user, review_id, answers)
    except ValidationFailed as exc:
        errors = forms.plain_errors(exc.errors, forms.fields_of(found.form_schema))
        return _review_page(ctx, request, user, review_id, answers, errors, 422)
    except (Conflict, Forbidden) as exc:
        return _back(ctx, "/qa", plain_words(exc), "error")
    return _back(ctx, "/qa", f"Review saved: score {(done.score or 0) * 100:.0f} %.", "ok")


@router.get("/payouts", response_class=HTMLResponse)
def statements(request: Request, ctx: PageCtx, user: Payroll, period: Period = "") -> Response:
    chosen = period or _this_month(ctx)
    context = {"statements": payouts.list_statements(ctx, user, period=chosen), "period": chosen}
    return render(ctx, request, "payouts.html", context, user=user)


@router.post("/payouts/run")
async def run(request: Request, ctx: PageCtx, user: Payroll) -> Response:
    period = str((await request.form()).get("period") or "")
    try:
        found = payouts.run(ctx, user, period)
    except (Conflict, ValidationFailed) as exc:
        return _back(ctx, f"/payouts?period={period}", plain_words(exc), "error")
    return _back(ctx, f"/payouts?period={period}", f"{len(found)} statements of {period}.", "ok")


@router.get("/payouts/export.csv")
def export(
    ctx: PageCtx, user: Payroll, period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]
) -> Response:
    return Response(
        payouts.payroll_csv(ctx, user, period),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="payouts-{period}.csv"'},
    )


@router.get("/payouts/{statement_id}", response_class=HTMLResponse)
def statement(request: Request, ctx: PageCtx, user: Payroll, statement_id: Id) -> Response:
    found = payouts.get_statement(ctx, user, statement_id)
    return render(ctx, request, "payout.html", {"s": found}, user=user)


@router.post("/payouts/{statement_id}/approve")
def approve(ctx: PageCtx, user: Payroll, statement_id: Id) -> Response:
    target = f"/payouts/{statement_id}"
    try:
        found = payouts.approve(ctx, user, statement_id)
    except Forbidden as exc:  # four eyes: whoever ran it
        return _back(ctx, target, f"Not approved: {exc.detail}.", "error")
    except Conflict as exc:
        return _back(ctx, target, plain_words(exc), "error")
    return _back(ctx, target, f"Approved and frozen with hash {(found.hash or '')[:12]}….", "ok")


@router.post("/payouts/{statement_id}/corrections")
async def correct(request: Request, ctx: PageCtx, user: Payroll, statement_id: Id) -> Response:
    form = await request.form()
    try:
        amount = round(float(str(form.get("amount") or "0").replace(",", ".")) * 100)
        found = payouts.correct(ctx, user, statement_id, amount, str(form.get("reason") or ""))
    except ValueError:
        return _back(ctx, f"/payouts/{statement_id}", "The amount is not a number.", "error")
    except (Conflict, ValidationFailed) as exc:
        return _back(ctx, f"/payouts/{statement_id}", plain_words(exc), "error")
    return _back(
        ctx, f"/payouts/{found.id}", "Correction recorded: someone else approves it.", "ok"
    )


@router.get("/me", response_class=HTMLResponse)
def my_results(request: Request, ctx: PageCtx, user: Agent, period: Period = "") -> Response:
    """An agent's own scorecard for the month, their QA reviews and their payouts."""
    chosen = period or _this_month(ctx)
    start, end = qa.period_bounds(chosen)
    card = next(
        (c for c in kpis.scorecard(ctx, start=start, end=end) if c.agent == user.username),
        None,
    )
    context = {
        "period": chosen,
        "as_of": kpis.as_of(ctx, end),
        "card": card,
        "overall": kpis.overall(ctx, start=start, end=end),
        "reviews": qa.list_reviews(ctx, user, as_="agent"),
        "payouts": payouts.list_statements(ctx, Actor(user.username, frozenset({"agent"}))),
    }
    return render(ctx, request, "me.html", context, user=user)
