"""The typed answers of incentive pay: a payout statement (or correction) as agents,
payroll and the API see it."""

from __future__ import annotations

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


__all__ = ["PayoutStatementDetailView", "PayoutStatementView"]
