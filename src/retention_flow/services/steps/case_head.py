"""A case as the step machinery sees it: its row without the (large) workflow state,
and what it waited on before a step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from retention_flow.engine.runtime import Snapshot
from retention_flow.services.platform.readable import as_object


@dataclass(frozen=True)
class CaseHead:
    """A case row without its (large) workflow state."""

    id: str
    business_key: str | None
    idempotency_key: str | None
    process_id: str
    process_version: int
    deployment_id: str
    channel: str | None
    status: str
    outcome: str | None
    data: dict[str, Any]
    serializer_version: str
    lock_version: int
    started_by: str
    starter_role: str
    audit_seq: int
    audit_hash: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    audit_seal_key: str | None = None
    audit_seal: str | None = None
    segment: str | None = None
    channel_reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, dict):  # a row written behind our back (readable.py)
            object.__setattr__(self, "data", as_object(self.data))


@dataclass(frozen=True)
class Waiting:
    """What a case waited on before a step: its open work items and pending timers."""

    ready: dict[str, str]  # task id -> element id
    timers: set[tuple[str, datetime]]
    signals: frozenset[str] = frozenset()


def waiting_of(snapshot: Snapshot) -> Waiting:
    return Waiting(
        {t.task_id: t.element_id for t in snapshot.ready},
        {(t.task_id, t.due_at) for t in snapshot.timers},
        frozenset(snapshot.signals),
    )
