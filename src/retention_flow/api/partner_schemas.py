"""Request and response schemas of the partner, allocation, settlement and KPI routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retention_flow.services.insight.views import KpiRow, Scorecard
from retention_flow.services.partners.views import (
    AllocationView,
    PartnerView,
    StatementDetailView,
    StatementView,
)

from .schemas import MAX_INT

Cents = Field(ge=0, le=MAX_INT)


class PartnerSave(BaseModel):
    """Create a partner (``id`` new) or change the fields given (``id`` known)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    capacity_per_period: int | None = Field(default=None, ge=0, le=MAX_INT)
    products: list[str] | None = Field(default=None, max_length=50)
    regions: list[str] | None = Field(default=None, max_length=50)
    min_contract_age_months: int | None = Field(default=None, ge=0, le=1200)
    max_contract_age_months: int | None = Field(default=None, ge=0, le=1200)
    cost_per_lead_cents: int | None = Field(default=None, ge=0, le=MAX_INT)
    commission_cents: int | None = Field(default=None, ge=0, le=MAX_INT)
    quality: float | None = Field(default=None, ge=0, le=1)
    min_share: float | None = Field(default=None, ge=0, le=1)
    active: bool | None = None


#: a partner: the view the partner services answer with
PartnerPublic = PartnerView


class PartnersPublic(BaseModel):
    data: list[PartnerPublic]
    count: int


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: str = Field(min_length=1, max_length=200)
    case_id: str | None = Field(default=None, max_length=36)
    product: str = Field(max_length=40)
    region: str = Field(max_length=40)
    contract_age_months: int = Field(ge=0, le=1200)
    value_cents: int | None = Field(default=None, ge=0, le=MAX_INT)
    monthly_revenue_cents: int | None = Field(default=None, ge=0, le=MAX_INT)
    eligible_partners: list[str] | None = Field(
        default=None, max_length=100, description="partners the rules allow (DMN)"
    )


class AllocateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leads: list[LeadIn] = Field(max_length=50_000)
    method: Literal["milp", "greedy"] = "milp"
    dry_run: bool = False


#: an allocation run: the view the allocation service answers with
AllocationPublic = AllocationView


class SettlementRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    partner_id: str | None = Field(default=None, max_length=100)


#: statements and their entries: the views settlement answers with
StatementPublic = StatementView
StatementDetail = StatementDetailView


class StatementsPublic(BaseModel):
    data: list[StatementPublic]
    count: int


class SettlementRunPublic(BaseModel):
    period: str
    added: dict[str, int]
    statements: list[StatementPublic]
    rejected: list[dict[str, Any]]


class KpisPublic(BaseModel):
    data: list[KpiRow]
    count: int
    start: datetime
    end: datetime
    as_of: datetime


class ScorecardsPublic(BaseModel):
    data: list[Scorecard]
    count: int
    start: datetime
    end: datetime
    as_of: datetime
