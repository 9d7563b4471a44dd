"""A case's history for auditors: the timeline of audit events, where the case has
been on its diagram, whether its hash chain holds, and exports as JSON and CSV.

Diagram marks come from the audit trail, not from the workflow state, so they show what
was recorded: ``completed`` counts, per element id, the elements the engine ran
(``engine_steps``, fired timers included) and the user tasks completed
(``task_completed``, which the engine does not list); ``current`` are the elements of
the open tasks and pending timers.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from sqlalchemy import and_, select

from retention_flow.core.clock import utc_iso
from retention_flow.db.models import AuditEvent
from retention_flow.db.session import read_session
from retention_flow.db.tables import INCIDENT, TIMER
from retention_flow.services.audit.trail import history, verify
from retention_flow.services.cases.views import (
    CaseHistory,
    DiagramMarks,
    EventView,
    HistoryExport,
    case_view,
    open_tasks,
)
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import AppContext
from retention_flow.services.steps.save import load_head

EXPORT_COLUMNS = (
    "seq",
    "at",
    "type",
    "actor",
    "element_id",
    "task_id",
    "data_before",
    "data_after",
    "detail",
    "prev_hash",
    "hash",
)


def event_view(event: AuditEvent) -> EventView:
    return EventView.model_construct(
        seq=event.seq,
        case_id=event.case_id,
        type=event.type,
        actor=event.actor,
        at=utc_iso(event.at),
        element_id=event.element_id,
        task_id=event.task_id,
        data_before=event.data_before,
        data_after=event.data_after,
        detail=event.detail,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def diagram_marks(
    events: list[AuditEvent], current: list[str], failed: list[str] | None = None
) -> DiagramMarks:
    """``completed``: {element_id: times}, ``current``: [element_id, ...], ``failed``:
    [element_id of an open incident, ...]."""
    completed: Counter[str] = Counter()
    for event in events:
        if event.type == "engine_steps":
            elements = (event.detail or {}).get("elements")
            if isinstance(elements, list):
                completed.update(str(e) for e in elements)
        elif event.type == "task_completed" and event.element_id:
            completed[event.element_id] += 1
    return DiagramMarks(
        completed=dict(completed),
        current=sorted(set(current)),
        failed=sorted(set(failed or [])),
    )


def case_history(ctx: AppContext, case_id: str) -> CaseHistory:
    """The case, its events oldest first, its diagram marks and its chain check."""
    with read_session(ctx.db) as session:
        head = load_head(session, case_id)
        tasks = open_tasks(session, case_id)
        events = [readable.audit_event(e) for e in history(session, case_id)]
        timers = session.execute(
            select(TIMER.c.element_id).where(
                and_(TIMER.c.case_id == case_id, TIMER.c.state == "pending")
            )
        ).scalars()
        current = [t.element_id for t in tasks] + [str(t) for t in timers]
        failed = session.execute(
            select(INCIDENT.c.element_id).where(
                and_(INCIDENT.c.case_id == case_id, INCIDENT.c.status == "open")
            )
        ).scalars()
        failed_ids = [str(f) for f in failed]
        chain = verify(session, stream=case_id).as_dict()
    return CaseHistory.model_construct(
        case=case_view(head, tasks),
        verify=chain,
        events=[event_view(e) for e in events],
        marks=diagram_marks(events, current, failed_ids),
    )


def export(ctx: AppContext, case_id: str) -> HistoryExport:
    """The history as one JSON document: the case and every event with its hashes."""
    found = case_history(ctx, case_id)
    return HistoryExport.model_construct(case=found.case, verify=found.verify, events=found.events)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    # a spreadsheet must not run a cell as a formula (data may come from customers)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(ctx: AppContext, case_id: str) -> str:
    """One row per event; data and detail as JSON text."""
    with read_session(ctx.db) as session:
        load_head(session, case_id)  # NotFound for an unknown case
        events = [event_view(readable.audit_event(e)) for e in history(session, case_id)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for event in events:
        row = [getattr(event, c) for c in EXPORT_COLUMNS]
        writer.writerow(
            [v if c == "seq" else _cell(v) for c, v in zip(EXPORT_COLUMNS, row, strict=True)]
        )
    return out.getvalue()
