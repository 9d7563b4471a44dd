"""Request and response schemas of the skills, next-task and offer-review routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retention_flow.services.routing.views import (
    NextTask,
    OfferReview,
    SkillView,
)

SKILL_VALUE = r"^[A-Za-z0-9_.-]+$"


class SkillSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proficiency: int = Field(ge=1, le=5, description="1 basic ... 5 expert")


SkillPublic = SkillView


class SkillsPublic(BaseModel):
    data: list[SkillPublic]
    count: int


NextTaskPublic = NextTask


OfferDecisionsPublic = OfferReview


class AtRiskStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(description="the customer's case data (processes/README.md)")
