"""The incentive plan: how KPIs and QA scores become points and money. It lives in a
bundle's ``bundle.json`` (``incentive_plan``), so a process owner edits it in the browser
like any bundle file, and every deployment is a version of it; ``services/incentives/payouts.py``
applies the plan deployed before a period starts to that period.

Per component: ``achievement = value / target`` (``target / value`` when
``lower_is_better``), capped at ``cap``; a value worse than ``threshold`` earns nothing;
``points = weight * achievement``. The points add up; the highest tier whose
``from_points`` the total reaches multiplies them; ``amount = points * multiplier *
money_per_point_cents``, at most ``max_payout_cents``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

PlanKpi = Literal[
    "retention_rate",
    "service_level",
    "first_contact_resolution",
    "answered_in_time",
    "avg_handling_seconds",
    "quality",
]


class PlanComponent(BaseModel):
    model_config = {"extra": "forbid"}

    kpi: PlanKpi
    weight: float = Field(ge=0, description="points at 100 % of the target")
    target: float = Field(gt=0)
    threshold: float | None = Field(default=None, ge=0, description="worse than this: 0 points")
    cap: float = Field(default=1.5, ge=0, description="highest achievement counted")
    lower_is_better: bool = False


class Tier(BaseModel):
    model_config = {"extra": "forbid"}

    from_points: float = Field(ge=0)
    multiplier: float = Field(ge=0)


class IncentivePlan(BaseModel):
    model_config = {"extra": "forbid"}

    components: list[PlanComponent] = Field(min_length=1)
    money_per_point_cents: int = Field(ge=0)
    tiers: list[Tier] = Field(default_factory=list)
    max_payout_cents: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _distinct(self) -> IncentivePlan:
        kpis = [c.kpi for c in self.components]
        if len(set(kpis)) != len(kpis):
            raise ValueError("each KPI may appear once in the plan's components")
        return self
