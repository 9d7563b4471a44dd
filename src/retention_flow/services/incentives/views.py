"""The typed answers of incentive pay and quality review: a payout statement (or
correction) as agents, payroll and the API see it; a QA sample drawn, a review (with its
checklist and case), the reviewers' agreement; the plan editor's source and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from retention_flow.services.platform.view import View


class PayoutStatementView(View):
    """One agent's statement of a period, or a correction of an approved one (``kind``);
    times as ISO 8601 text."""

    id: str
    period: str
    agent: str
    kind: str  # statement | correction
    corrects: str | None
    reason: str | None
    plan_deployment_id: str
    plan_hash: str
    plan: dict[str, Any]
    components: list[dict[str, Any]]
    points: float
    amount_cents: int
    status: str  # draft | approved
    created_by: str
    created_at: str
    approved_by: str | None
    approved_at: str | None
    hash: str | None


class PayoutStatementDetailView(PayoutStatementView):
    #: an approved statement: whether its stored hash still matches (None for a draft)
    hash_ok: bool | None


class QaSampleView(View):
    """A period's sample drawn: cases sampled, review tasks made, agents and reviewers."""

    period: str
    samples: int
    reviews: int
    agents: int
    reviewers: list[str]


class QaReviewView(View):
    """A review task: one reviewer scores one ended case of an agent (``state`` open or
    done); times as ISO 8601 text."""

    id: str
    sample_id: str
    period: str
    case_id: str
    case_ended_at: str
    agent: str
    stratum: str
    reviewer: str
    state: str
    form: str
    deployment_id: str
    answers: dict[str, Any] | None
    score: float | None
    created_by: str
    created_at: str
    done_at: str | None


class ReviewedCase(View):
    """What the reviewer needs of the case (its creation time as ISO 8601 text)."""

    business_key: str | None
    channel: str | None
    process_id: str
    outcome: str | None
    created_at: str
    data: dict[str, Any]


class QaReviewDetailView(QaReviewView):
    """A review with its checklist form and the case."""

    form_schema: dict[str, Any]
    case: ReviewedCase


class QaAgreementView(View):
    """Of the period's samples two reviewers finished: the share of checklist items they
    answered alike and the mean gap between their scores (None: no such sample)."""

    period: str
    double_reviewed: int
    item_agreement: float | None
    mean_score_gap: float | None


class PlanVersion(View):
    """A deployment that changed the plan, and the first period it applies to."""

    deployment_id: str
    deployed_at: datetime
    deployed_by: str
    plan_hash: str
    applies_from: str


class PlanSource(View):
    """The bundle the plan editor starts from: a process version of the newest deployment
    holding a plan, its plan (as stored and as text), its checklist as text, and the
    plan's history (newest first)."""

    process_id: str
    version: int
    deployment_id: str
    plan: dict[str, Any]
    plan_text: str
    checklist_name: str
    checklist_text: str | None
    history: list[PlanVersion]


__all__ = [
    "PayoutStatementDetailView",
    "PayoutStatementView",
    "PlanSource",
    "PlanVersion",
    "QaAgreementView",
    "QaReviewDetailView",
    "QaReviewView",
    "QaSampleView",
    "ReviewedCase",
]
