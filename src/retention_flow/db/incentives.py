"""Tables of quality reviews and incentive payouts.

``qa_review``: one row per reviewer of a sampled case (a share of samples has two rows,
one per reviewer, sharing ``sample_id``). ``payout_statement``: one row per agent and
period (``kind = statement``) plus corrections as new rows (``kind = correction``,
``corrects`` names the statement); approved rows are frozen with their hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


def _dt(nullable: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable)


class QaReview(SQLModel, table=True):
    """A quality review task: a reviewer scores one completed case of an agent."""

    __tablename__ = "qa_review"
    __table_args__ = (
        UniqueConstraint("sample_id", "reviewer"),
        Index("ix_qa_review_reviewer", "reviewer", "state"),
        Index("ix_qa_review_agent", "agent", "case_ended_at"),
        Index("ix_qa_review_period", "period"),
    )

    id: str = Field(primary_key=True, max_length=36)
    sample_id: str = Field(max_length=36)
    period: str = Field(max_length=7)  # YYYY-MM
    case_id: str = Field(foreign_key="case.id", max_length=36)
    case_ended_at: datetime = _dt()
    agent: str = Field(max_length=200)
    stratum: str = Field(max_length=200)
    reviewer: str = Field(max_length=200)
    state: str = Field(max_length=20)  # open | done
    #: the checklist schema's file and the deployment it came from
    form: str = Field(max_length=400)
    deployment_id: str = Field(max_length=36)
    answers: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    score: float | None = None
    created_by: str = Field(max_length=200)
    created_at: datetime = _dt()
    done_at: datetime | None = _dt(nullable=True)


class PayoutStatement(SQLModel, table=True):
    """An agent's incentive payout for a period, or a correction of one."""

    __tablename__ = "payout_statement"
    __table_args__ = (Index("ix_payout_period_agent", "period", "agent"),)

    id: str = Field(primary_key=True, max_length=36)
    period: str = Field(max_length=7)  # YYYY-MM
    agent: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # statement | correction
    corrects: str | None = Field(default=None, max_length=36)
    reason: str | None = Field(default=None, max_length=1000)
    #: the plan it was computed with: its deployment and the plan file's hash
    plan_deployment_id: str = Field(max_length=36)
    plan_hash: str = Field(max_length=64)
    plan: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    components: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    points: float
    amount_cents: int
    status: str = Field(max_length=20)  # draft | approved
    created_by: str = Field(max_length=200)
    created_at: datetime = _dt()
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = _dt(nullable=True)
    hash: str | None = Field(default=None, max_length=64)
