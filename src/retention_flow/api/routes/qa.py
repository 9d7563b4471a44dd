"""QA reviews: draw a period's sample, review tasks for the qa role, agreement."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from retention_flow.services.incentives import qa
from retention_flow.services.incentives.views import (
    QaAgreementView,
    QaReviewDetailView,
    QaSampleView,
)
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..strict_body import api_router

router = api_router(prefix="/api/qa", tags=["qa"])

Steward = Annotated[Actor, Depends(require_role("team_lead", "admin", "process_owner"))]
Reader = Annotated[
    Actor, Depends(require_role("qa", "agent", "team_lead", "auditor", "admin", "process_owner"))
]
Reviewer = Annotated[Actor, Depends(require_role("qa"))]
Period = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


class SampleIn(BaseModel):
    model_config = {"extra": "forbid"}
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class AnswersIn(BaseModel):
    model_config = {"extra": "forbid"}
    answers: dict[str, Any]


@router.post("/samples", status_code=201)
def draw_sample(ctx: CtxDep, user: Steward, body: SampleIn) -> QaSampleView:
    """Draw the period's stratified sample: review tasks for the qa role (409 if drawn)."""
    return qa.draw_sample(ctx, user, body.period)


@router.get("/reviews")
def reviews(
    ctx: CtxDep,
    user: Reader,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    view: Literal["auto", "reviewer", "agent"] = "auto",
) -> dict[str, Any]:
    """A reviewer's tasks, an agent's reviews of their own cases, or all (stewards)."""
    data = qa.list_reviews(ctx, user, period=period, as_=view)
    return {"data": data, "count": len(data)}


@router.get("/reviews/{review_id}")
def review(ctx: CtxDep, user: Reader, review_id: str) -> QaReviewDetailView:
    return qa.get_review(ctx, user, review_id)


@router.post("/reviews/{review_id}")
def submit(ctx: CtxDep, user: Reviewer, review_id: str, body: AnswersIn) -> QaReviewDetailView:
    """The reviewer's checklist answers (validated against the form; 403 for the agent)."""
    return qa.submit(ctx, user, review_id, body.answers)


@router.get("/agreement")
def agreement(ctx: CtxDep, _user: Reader, period: Period) -> QaAgreementView:
    """How often two reviewers of one sample answered each checklist item alike."""
    return qa.agreement(ctx, period)
