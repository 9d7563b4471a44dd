"""Plain-dict views of cases and work items in the shapes of the REST contract."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlmodel import Session

from retention_flow.core.clock import utc_iso
from retention_flow.db.models import WorkItem
from retention_flow.services.steps.save import OPEN_STATES, WORK, CaseHead

TASK_FIELDS = (
    "id",
    "case_id",
    "business_key",
    "process_id",
    "element_id",
    "name",
    "role",
    "state",
    "claimed_by",
    "due_at",
    "priority",
    "created_at",
)


def _iso(value: datetime | None) -> str | None:
    return utc_iso(value) if value is not None else None


def task_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in TASK_FIELDS}
    out["due_at"] = _iso(row.get("due_at"))
    out["created_at"] = _iso(row.get("created_at"))
    out["claimed_at"] = _iso(row.get("claimed_at"))
    out["form"] = row.get("form")
    out["partner"] = row.get("partner")
    out["segment"] = row.get("segment")
    out["required_skills"] = row.get("required_skills") or []
    return out


def open_tasks(session: Session, case_id: str) -> list[dict[str, Any]]:
    query = (
        select(WORK)
        .where(and_(WORK.c.case_id == case_id, WORK.c.state.in_(OPEN_STATES)))
        .order_by(WORK.c.due_at, WORK.c.priority.desc())
    )
    return [task_view(r) for r in session.execute(query).mappings()]


def case_view(head: CaseHead, tasks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "id": head.id,
        "business_key": head.business_key,
        "process_id": head.process_id,
        "process_version": head.process_version,
        "channel": head.channel,
        "status": head.status,
        "outcome": head.outcome,
        "segment": head.segment,
        "channel_reason": head.channel_reason,
        "data": head.data,
        "open_tasks": [dict(t) for t in tasks],
        "started_by": head.started_by,
        "created_at": _iso(head.created_at),
        "updated_at": _iso(head.updated_at),
        "ended_at": _iso(head.ended_at),
    }


__all__ = ["WorkItem", "case_view", "open_tasks", "task_view"]
