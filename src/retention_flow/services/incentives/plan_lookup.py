"""Which incentive plan is in force: the one in the newest deployment made before a
moment (``bundle.json`` ``incentive_plan``). The payouts of a period and the scorecard
read it, so the weights live in one place, the plan a process owner edits
(``services/incentives/plan_editing.py``)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from retention_flow.db.tables import DEPLOYMENT


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def plan_hash(plan: dict[str, Any]) -> str:
    """The hash a payout statement records of the plan it was computed with."""
    return hashlib.sha256(canonical(plan).encode()).hexdigest()


def plan_in_force(conn: Any, before: datetime) -> tuple[str, dict[str, Any], str] | None:
    """(deployment id, plan, plan hash) of the newest deployment before ``before`` that
    has a plan, or None."""
    rows = conn.execute(
        select(DEPLOYMENT.c.id, DEPLOYMENT.c.manifest)
        .where(DEPLOYMENT.c.deployed_at < before)
        .order_by(DEPLOYMENT.c.deployed_at.desc())
    )
    for deployment_id, manifest in rows:
        plan = (manifest or {}).get("incentive_plan")
        if plan:
            return str(deployment_id), plan, plan_hash(plan)
    return None
