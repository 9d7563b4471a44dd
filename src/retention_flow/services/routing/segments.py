"""Customer segments: the bundle's ``case_segment`` decision table (process owners edit
it like any other table), evaluated once when a customer case starts and kept on the
case (``case.segment``) and on its work items. Queues, the case page, routing and the
KPIs read it from there."""

from __future__ import annotations

import logging
from typing import Any

from retention_flow.core.errors import ScriptError
from retention_flow.engine.bundle import CompiledBundle
from retention_flow.engine.decide import decide

log = logging.getLogger(__name__)

SEGMENT_DECISION = "case_segment"
#: what the table reads when the case does not say (inbound captures the reason later)
_DEFAULTS: dict[str, Any] = {
    "monthly_revenue_cents": 0,
    "tenure_months": 0,
    "churn_risk": "low",
    "cancellation_reason": "none",
    "product": "",
    "region": "",
}


def segment_of(bundle: CompiledBundle, data: dict[str, Any]) -> str | None:
    """The first segment the table collects for a customer case's data; None for a case
    that is not a customer's (no ``customer_id``), a bundle without the table, or a table
    that fails on these data (logged: a case is never refused for its segment)."""
    if not data.get("customer_id"):
        return None
    given = {k: v for k, v in data.items() if v is not None}
    try:
        rows = decide(bundle, SEGMENT_DECISION, {**_DEFAULTS, **given})
    except ScriptError as exc:
        log.warning("segment not decided: %s", exc.detail)
        return None
    for row in rows or []:
        if row.get("segment"):
            return str(row["segment"])[:100]
    return None
