"""The typed answers of partner settlement: statements, their entries, a settlement run.
The API's settlement schemas are these classes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from retention_flow.services.platform.view import View


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


__all__ = ["EntryView", "SettlementRunView", "StatementDetailView", "StatementView"]
