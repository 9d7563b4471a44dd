"""Request and response schemas of the skills, next-task and offer-review routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retention_flow.services.routing.views import NextTask

SKILL_VALUE = r"^[A-Za-z0-9_.-]+$"


class SkillSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proficiency: int = Field(ge=1, le=5, description="1 basic ... 5 expert")


class SkillPublic(BaseModel):
    username: str
    kind: str
    value: str
    proficiency: int
    updated_by: str
    updated_at: str | None


class SkillsPublic(BaseModel):
    data: list[SkillPublic]
    count: int


NextTaskPublic = NextTask


class OfferDecisionPublic(BaseModel):
    id: int
    at: str
    username: str
    task_id: str
    case_id: str
    segment: str | None
    rule: str
    score: float
    reason: str
    candidates: int
    inputs: dict[str, Any]


class OfferDecisionsPublic(BaseModel):
    data: list[OfferDecisionPublic]
    count: int
    by_agent: list[dict[str, Any]] = Field(
        description="per agent: offers, by rule, by segment (for a fairness review)"
    )


class AtRiskStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(description="the customer's case data (processes/README.md)")
