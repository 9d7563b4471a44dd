"""Tables of skill-based, outcome-based routing.

``agent_skill``: what an agent can do, with a proficiency from 1 (basic) to 5 (expert);
a skill is a kind (product, segment, language, channel) and a value (``mobile_l``,
``vip_at_risk``, ``de``, ``inbound``). Team leads keep them (``services/routing/skills.py``).

``offer_decision``: every "next task" offer, with the candidates' inputs and the score
that decided it, so a team lead can review who got which work and why
(``services/routing/next_task.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class AgentSkill(SQLModel, table=True):
    """One skill of one agent."""

    __tablename__ = "agent_skill"

    username: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=40)
    value: str = Field(primary_key=True, max_length=100)
    proficiency: int = Field(default=3, ge=1, le=5)
    updated_by: str = Field(max_length=200)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class OfferDecision(SQLModel, table=True):
    """One task offered to one agent by "next task": which rule decided (``sla``,
    ``outcome``, ``explore``, ``fifo``), its score and the inputs it was computed from."""

    __tablename__ = "offer_decision"
    __table_args__ = (
        Index("ix_offer_decision_user", "username", "at"),
        Index("ix_offer_decision_task", "task_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    username: str = Field(max_length=200)
    task_id: str = Field(max_length=36)
    case_id: str = Field(max_length=36)
    segment: str | None = Field(default=None, max_length=100)
    rule: str = Field(max_length=20)
    score: float
    reason: str = Field(max_length=400)
    candidates: int
    inputs: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
