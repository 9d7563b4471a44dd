# ruff: noqa: S608  -- the SQL is built from constant fragments only; every value is bound
"""A heatmap of one process version, from the audit trail, aggregated in SQL.

For the cases of ``process_id`` version ``version`` (the version a case runs on now:
a migrated case counts for its new version) and the audit events recorded in the
period ``[start, end)``:

- ``times`` / ``cases``: how often each element was passed and by how many cases. An
  element is passed when the engine ran it (``engine_steps``: events, gateways, script
  and service tasks, fired timers, caught messages) or a person completed it
  (``task_completed``).
- ``entered``: user tasks that became ready (``task_ready``), whether done yet or not.
- ``wait_p50_seconds`` / ``wait_p95_seconds``: for user tasks completed in the period,
  the time from the task becoming ready to its completion (nearest-rank percentiles;
  ``waits`` is how many were measured).
- ``sla_breaches``: user tasks that became ready in the period and ended after their due
  time, or are still open past it (at the end of the period, or now if earlier);
  ``escalations``: SLA timers that fired on an open task (``task_escalated``).
- ``incidents``: steps that failed at the element (``incident_raised``).
- flows: SpiffWorkflow records no sequence flow, so a flow counts the cases that passed
  its source and reached its target (passed it, or it became ready or failed there) in
  the period. Where a target joins several incoming flows, a case that passed more than
  one of their sources counts on each.

Once the worker has rolled the audit trail up (``heatmap_rollup.py``), a period that holds
a whole hour is answered from the rollup (``heatmap_fast.py``: counts exact, waits within
1.98 %, ``source: rollup``); before that, and for a period under an hour, every figure
is one SQL aggregation over the audit events (no case is loaded into Python; exact
waits, ``source: events``). ``bench/heatmap.py`` prints both at growing case counts.
The raw joins go through ``ix_case_process_version`` (a version's case ids),
``ix_audit_event_case_at`` (a case's events of the period) and ``ix_audit_event_task`` (a
task's ready event), migration 0025: without them PostgreSQL ran a bitmap AND of the case
and time indexes once per case, over the whole period's time range each time (quadratic:
592 s at 10,000 cases).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from retention_flow.core.clock import utc_iso
from retention_flow.core.errors import ValidationFailed
from retention_flow.db.session import read_session
from retention_flow.db.types import UTCDateTime
from retention_flow.engine.diagram import Flow, diagram_shape
from retention_flow.services.insight import heatmap_fast
from retention_flow.services.insight.heatmap_fast import Figures
from retention_flow.services.insight.heatmap_marks import WAIT_TOLERANCE
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models.deployments import get_version, version_xml

DEFAULT_DAYS = 30

_EVENTS = """
ev AS (
  SELECT e.case_id, e.type, e.element_id, e.task_id, e.at
  FROM audit_event e JOIN "case" c ON c.id = e.case_id
  WHERE c.process_id = :p AND c.process_version = :v AND e.at >= :start AND e.at < :end
)"""
#: the engine's steps of the period, read straight from the table: their (large) detail
#: column is never copied into ``ev``
_STEPS = """audit_event s JOIN "case" sc ON sc.id = s.case_id
  WHERE sc.process_id = :p AND sc.process_version = :v AND s.at >= :start AND s.at < :end
  AND s.type = 'engine_steps'"""

_RAN = {
    "sqlite": (
        "SELECT s.case_id, j.value AS element_id FROM "
        + _STEPS.replace(
            "\n  WHERE",
            ",json_each("
            "CASE WHEN json_valid(s.detail) THEN s.detail ELSE '{}' END, '$.elements') j\n  WHERE",
        )
        + " AND j.type = 'text'"
    ),
    "postgresql": (
        "SELECT s.case_id, j.value AS element_id FROM "
        + _STEPS.replace(
            "\n  WHERE",
            ", "
            "jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.detail -> 'elements') = 'array' "
            "THEN s.detail -> 'elements' ELSE '[]'::jsonb END) AS j(value)\n  WHERE",
        )
    ),
}

_SECONDS = {
    "sqlite": "(julianday(c.at) - julianday(r.at)) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM (c.at - r.at))",
}

_PASSED = """
passed AS (
  SELECT case_id, element_id FROM ev
  WHERE type = 'task_completed' AND element_id IS NOT NULL
  UNION ALL {ran}
)"""


def _passed_sql(dialect: str) -> str:
    return f"""WITH {_EVENTS}, {_PASSED.format(ran=_RAN[dialect])}
SELECT element_id, COUNT(*) AS times, COUNT(DISTINCT case_id) AS cases
FROM passed GROUP BY element_id"""


def _counts_sql() -> str:
    """Per element: tasks entered, escalations and incidents (one pass over the events)."""
    return f"""WITH {_EVENTS}
SELECT element_id,
  SUM(CASE WHEN type = 'task_ready' THEN 1 ELSE 0 END) AS entered,
  SUM(CASE WHEN type = 'task_escalated' THEN 1 ELSE 0 END) AS escalations,
  SUM(CASE WHEN type = 'incident_raised' THEN 1 ELSE 0 END) AS incidents
FROM ev WHERE element_id IS NOT NULL
  AND type IN ('task_ready', 'task_escalated', 'incident_raised')
GROUP BY element_id"""


def _waits_sql(dialect: str) -> str:
    return f"""WITH {_EVENTS},
w AS (
  SELECT c.element_id, {_SECONDS[dialect]} AS secs
  FROM ev c JOIN audit_event r
    ON r.case_id = c.case_id AND r.task_id = c.task_id AND r.type = 'task_ready'
  WHERE c.type = 'task_completed' AND c.element_id IS NOT NULL
),
ranked AS (
  SELECT element_id, secs,
    ROW_NUMBER() OVER (PARTITION BY element_id ORDER BY secs) AS rn,
    COUNT(*) OVER (PARTITION BY element_id) AS n
  FROM w
)
SELECT element_id, MAX(n) AS waits,
  MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN secs END) AS p50,
  MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN secs END) AS p95
FROM ranked GROUP BY element_id"""


def _breaches_sql() -> str:
    return f"""WITH {_EVENTS}
SELECT r.element_id, COUNT(*) AS breaches
FROM ev r JOIN work_item w ON w.id = r.task_id
WHERE r.type = 'task_ready' AND r.element_id IS NOT NULL
  AND COALESCE(w.ended_at, :asof) > w.due_at
GROUP BY r.element_id"""


_PATH = {
    "sqlite": "group_concat(m, ' ')",
    "postgresql": "string_agg(m, ' ' ORDER BY m)",
}


def _paths_sql(dialect: str) -> str:
    """Each distinct path (the elements a case passed, ``p:``, and the ones it reached
    without passing, ``r:``) with its number of cases: far fewer rows than cases."""
    return f"""WITH {_EVENTS}, {_PASSED.format(ran=_RAN[dialect])},
marks AS (
  SELECT case_id, 'p:' || element_id AS m FROM passed
  UNION SELECT case_id, 'r:' || element_id FROM ev
  WHERE type IN ('task_ready', 'incident_raised') AND element_id IS NOT NULL
),
paths AS (SELECT case_id, {_PATH[dialect]} AS path FROM marks GROUP BY case_id)
SELECT path, COUNT(*) AS cases FROM paths GROUP BY path"""


def _taken(rows: list[Any], flows: list[Flow]) -> dict[str, int]:
    """Cases per flow from the paths: its source passed and its target reached."""
    taken = dict.fromkeys((f.id for f in flows), 0)
    for row in rows:
        marks = set(str(row.path).split(" "))
        passed = {m[2:] for m in marks if m.startswith("p:")}
        reached = passed | {m[2:] for m in marks if m.startswith("r:")}
        for flow in flows:
            if flow.source in passed and flow.target in reached:
                taken[flow.id] += int(row.cases)
    return taken


def _cases_sql() -> str:
    return f"WITH {_EVENTS} SELECT COUNT(DISTINCT case_id) FROM ev"


def period(
    now: datetime, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The period asked for (default: the last 30 days up to now); start before end."""
    end = end or now
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValidationFailed(
            "the period is empty",
            errors=[{"field": "from", "message": "from must be before to"}],
        )
    return start, end


def _run(session: Session, sql: str, params: dict[str, Any]) -> list[Any]:
    stmt = text(sql).bindparams(
        *(bindparam(k, type_=UTCDateTime) for k in ("start", "end", "asof") if f":{k}" in sql)
    )
    return list(session.execute(stmt, params).all())


def _tune(session: Session, dialect: str) -> None:
    """PostgreSQL settings for this read only (``SET LOCAL``): no JIT, whose compile
    took 1.8 of 2.7 s at 10,000 cases (the planner counts 100 rows per JSON array, so
    every plan looks expensive enough to compile), and sorts in memory, not on disk."""
    if dialect == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _raw(
    session: Session, dialect: str, params: dict[str, Any], asof: datetime, flows: list[Flow]
) -> Figures:
    """The figures read from the audit events of the period (exact waits)."""
    out = Figures(total=int(_run(session, _cases_sql(), params)[0][0]))
    for r in _run(session, _passed_sql(dialect), params):
        out.passed[r.element_id] = (int(r.times), int(r.cases))
    for r in _run(session, _counts_sql(), params):
        out.counts[r.element_id] = (int(r.entered), int(r.escalations), int(r.incidents))
    for r in _run(session, _waits_sql(dialect), params):
        out.waits[r.element_id] = (int(r.waits), _round(r.p50), _round(r.p95))
    for r in _run(session, _breaches_sql(), {**params, "asof": asof}):
        out.breaches[r.element_id] = int(r.breaches)
    out.taken = _taken(_run(session, _paths_sql(dialect), params), flows)
    return out


def figures(
    session: Session, dialect: str, params: dict[str, Any], flows: list[Flow]
) -> tuple[Figures, str]:
    """From the rollup where it has something and the period holds a whole hour,
    else from the raw events; with the source used (``rollup`` or ``events``)."""
    w = heatmap_fast.watermark(session)
    h1, h2 = heatmap_fast.whole_hours(params["start"], params["end"])
    if w and h1 < h2:
        return heatmap_fast.figures(session, dialect, params, flows, w), "rollup"
    return _raw(session, dialect, params, params["asof"], flows), "events"


def heatmap(
    ctx: AppContext,
    process_id: str,
    version: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """The heatmap of one version over a period (see the module docstring)."""
    start, end = period(ctx.now(), start, end)
    xml = version_xml(ctx, process_id, version)
    with read_session(ctx.db) as session:
        if ctx.db.dialect.name == "postgresql":  # the watermark and the rollup: one snapshot
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        pv = get_version(session, process_id, version)
        nodes, flows = diagram_shape(pv.file_name, xml)
        dialect = session.get_bind().dialect.name
        dialect = dialect if dialect in _RAN else "postgresql"
        _tune(session, dialect)
        params: dict[str, Any] = {"p": process_id, "v": version, "start": start, "end": end}
        found, source = figures(session, dialect, {**params, "asof": min(end, ctx.now())}, flows)
    known = {n.id: n for n in nodes}
    seen = set(found.passed) | set(found.counts) | set(found.waits) | set(found.breaches)
    ids = [n.id for n in nodes] + sorted(seen - set(known))
    elements = []
    for element_id in ids:
        node = known.get(element_id)
        times, passed = found.passed.get(element_id, (0, 0))
        entered, escalations, incidents = found.counts.get(element_id, (0, 0, 0))
        waits, p50, p95 = found.waits.get(element_id, (0, None, None))
        elements.append(
            {
                "element_id": element_id,
                "name": node.name if node else None,
                "type": node.type if node else None,
                "on_diagram": node is not None,
                "cases": passed,
                "times": times,
                "entered": entered,
                "waits": waits,
                "wait_p50_seconds": p50,
                "wait_p95_seconds": p95,
                "sla_breaches": found.breaches.get(element_id, 0),
                "escalations": escalations,
                "incidents": incidents,
            }
        )
    return {
        "process_id": process_id,
        "version": version,
        "from": utc_iso(start),
        "to": utc_iso(end),
        "cases": found.total,
        "source": source,
        "wait_relative_error": round(WAIT_TOLERANCE, 4) if source == "rollup" else 0.0,
        "elements": elements,
        "flows": [
            {
                "flow_id": f.id,
                "source": f.source,
                "target": f.target,
                "name": f.name,
                "cases": found.taken.get(f.id, 0),
            }
            for f in flows
        ],
    }


def compare(
    ctx: AppContext,
    process_id: str,
    old: int,
    new: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Two versions' heatmaps over one period and, per element and flow on both, the
    change from ``old`` to ``new`` (cases, breaches, incidents, p50 wait)."""
    before = heatmap(ctx, process_id, old, start, end)
    after = heatmap(ctx, process_id, new, start, end)
    was = {e["element_id"]: e for e in before["elements"]}
    deltas = {}
    for e in after["elements"]:
        o = was.get(e["element_id"])
        if o is None:
            continue
        p50 = (
            None
            if e["wait_p50_seconds"] is None or o["wait_p50_seconds"] is None
            else round(e["wait_p50_seconds"] - o["wait_p50_seconds"], 3)
        )
        deltas[e["element_id"]] = {
            "cases": e["cases"] - o["cases"],
            "sla_breaches": e["sla_breaches"] - o["sla_breaches"],
            "incidents": e["incidents"] - o["incidents"],
            "wait_p50_seconds": p50,
        }
    flows_was = {f["flow_id"]: f["cases"] for f in before["flows"]}
    flow_deltas = {
        f["flow_id"]: f["cases"] - flows_was[f["flow_id"]]
        for f in after["flows"]
        if f["flow_id"] in flows_was
    }
    return {"old": before, "new": after, "deltas": deltas, "flow_deltas": flow_deltas}
