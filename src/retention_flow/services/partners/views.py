"""The typed answers of the partner services: a partner's master data with its capacity,
an allocation run, settlement statements, their entries, a settlement run. The API's
partner, allocation and statement schemas are these classes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from retention_flow.services.platform.view import View


class PartnerView(View):
    """A partner's master data with the capacity it has used and has left this month;
    ``created``: answering a save, whether the partner was new."""

    id: str
    name: str
    capacity_per_period: int
    used_this_period: int
    remaining_capacity: int
    products: list[str]
    regions: list[str]
    min_contract_age_months: int | None
    max_contract_age_months: int | None
    cost_per_lead_cents: int
    commission_cents: int
    quality: float
    min_share: float
    active: bool
    created_at: datetime
    updated_at: datetime
    created: bool | None = None


class AllocationView(View):
    """An allocation run: the solver's answer (``gap`` 0 = proven optimal), the leads
    assigned (lead id → partner id) and those not (lead id → reason)."""

    run_id: str
    dry_run: bool
    solver: str
    fallback_reason: str | None
    objective_cents: int
    lp_bound_cents: int | None
    gap: float | None
    solve_seconds: float
    assignments: dict[str, str]
    unassigned: dict[str, str]
    per_partner: dict[str, int]
    min_leads: dict[str, int]


class StatementView(View):
    id: str
    partner_id: str
    period: str
    seq: int
    status: str
    total_cents: int
    entry_count: int
    hash: str | None
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


class EntryView(View):
    id: str
    kind: str = Field(description="commission | correction")
    case_id: str
    partner_id: str
    amount_cents: int
    line_id: str | None
    corrects_entry_id: str | None
    reason: str | None
    created_by: str
    created_at: datetime


class StatementDetailView(StatementView):
    entries: list[EntryView]
    hash_ok: bool | None = Field(
        default=None, description="approved statements: the stored hash still matches"
    )


class SettlementRunView(View):
    period: str
    added: dict[str, int]
    statements: list[StatementDetailView]
    rejected: list[dict[str, Any]]


__all__ = [
    "AllocationView",
    "EntryView",
    "PartnerView",
    "SettlementRunView",
    "StatementDetailView",
    "StatementView",
]
