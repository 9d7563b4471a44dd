# ruff: noqa: S608  -- the SQL is built from constant fragments only; every value is bound
"""The marks a set of cases left in the audit trail, in SQL: what the heatmap rollup
(``heatmap_rollup.py``) adds up per hour and the fast read (``heatmap_fast.py``) combines.

A *mark* is one (kind, key) that a case reached at a time ``at``:

- ``case`` (key ``''``): any audit event of the case;
- ``passed`` X: the engine ran X (``engine_steps``) or a person completed it;
- ``reached`` X: passed X, or a task at X became ready, or a step failed at X;
- ``flow`` F: passed F's source or reached F's target (the union: a flow's cases are
  ``passed(source) + reached(target) - flow(F)``, inclusion-exclusion on distinct cases);
- ``ready``, ``escalated``, ``incident`` X: the events of those types at X.

Every mark carries ``prev``: the time of the same case's previous mark of that kind and
key. The cases that reached a mark in a period ``[s, e)`` are then the marks in the period
whose ``prev`` is before ``s`` (or none): each case's first one there, counted once.
That is what keeps distinct-case counts additive over cases, hours and versions.

``wt`` holds the waits (a task completed at ``at``, ``secs`` after its ``task_ready``);
``br`` the ``task_ready`` events of the tasks that count as SLA breaches, by a condition
the caller picks (the roll-up's list of tasks ended late, or the exact one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from retention_flow.engine.diagram import Flow

#: waits are kept in log-spaced buckets ``[BASE**k, BASE**(k+1))`` and read back as the
#: bucket's geometric middle, within ``sqrt(BASE) - 1`` (1.98 %) of the true wait; waits
#: under ``FLOOR_SECONDS`` share the lowest bucket
BASE = 1.04
FLOOR_SECONDS = 0.001
WAIT_TOLERANCE = math.sqrt(BASE) - 1

DISTINCT_KINDS = ("case", "passed", "reached", "flow")

HOUR = {
    "sqlite": "(CAST(strftime('%s', {x}) AS INTEGER) / 3600)",
    "postgresql": "CAST(floor(extract(epoch FROM {x}) / 3600) AS INTEGER)",
}
_SECONDS = {
    "sqlite": "(julianday(c.at) - julianday(r.at)) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM (c.at - r.at))",
}
_BUCKET = {
    "sqlite": "CAST(floor(ln(max({x}, {floor})) / ln({base})) AS INTEGER)",
    "postgresql": "CAST(floor(ln(GREATEST({x}, {floor})) / ln({base})) AS INTEGER)",
}
_ELEMENTS = {
    "sqlite": (
        ", json_each(CASE WHEN json_valid(s.detail) THEN s.detail ELSE '{}' END, '$.elements') j",
        "j.type = 'text'",
    ),
    "postgresql": (
        ", jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.detail -> 'elements') = "
        "'array' THEN s.detail -> 'elements' ELSE '[]'::jsonb END) AS j(value)",
        "TRUE",
    ),
}

#: where the version of a case comes from: the case now, or the roll-up's record of it
SOURCES = {
    "case": '"case" c ON c.id = {e}.case_id',
    "rolled": "heatmap_case c ON c.case_id = {e}.case_id",
    #: a CTE ``y`` (case_id, process_id, process_version) the caller made, a few cases
    "y": "y c ON c.case_id = {e}.case_id",
}
#: which ready events are SLA breaches (``r`` the event; ``w`` its work item)
BREACHES = {
    "rolled": "JOIN heatmap_breach b ON b.task_id = r.task_id WHERE",
    "exact": "JOIN work_item w ON w.id = r.task_id "
    "WHERE COALESCE(w.ended_at, :asof) > w.due_at AND",
}


def hour_of(dialect: str, column: str) -> str:
    return HOUR[dialect].format(x=column)


def bucket_of(dialect: str, column: str) -> str:
    return _BUCKET[dialect].format(x=column, floor=FLOOR_SECONDS, base=BASE)


def bucket_value(k: int) -> float:
    """The wait a bucket stands for: its geometric middle."""
    return float(BASE ** (k + 0.5))


def flows_cte(flows: Sequence[Flow]) -> tuple[str, dict[str, Any]]:
    """``fl(flow_id, source, target)``: the version's sequence flows, bound."""
    if not flows:
        return "fl(flow_id, source, target) AS (SELECT '', '', '' WHERE 1 = 0)", {}
    rows = ", ".join(f"(:f{i}, :fs{i}, :ft{i})" for i in range(len(flows)))
    params: dict[str, Any] = {}
    for i, f in enumerate(flows):
        params |= {f"f{i}": f.id, f"fs{i}": f.source, f"ft{i}": f.target}
    return f"fl(flow_id, source, target) AS (VALUES {rows})", params


def _waits(dialect: str, p: str, ready_from: str, limit: str) -> str:
    """``{p}_wt``. A wait's ``task_ready`` event is looked up by ``ix_audit_event_task``
    (``index``: a few cases; the CTE joined with itself went quadratic where the planner
    took it for one row) or hash-joined within ``{p}_ev`` (``ev``: a rebuild's cases)."""
    ready = f"{p}_ev r" if ready_from == "ev" else "audit_event r"
    ready_limit = "" if ready_from == "ev" else limit.replace("e.id", "r.id")
    return f"""{p}_wt AS (
  SELECT c.element_id AS key, c.at, {_SECONDS[dialect]} AS secs
  FROM {p}_ev c JOIN {ready}
    ON r.case_id = c.case_id AND r.task_id = c.task_id AND r.type = 'task_ready'{ready_limit}
  WHERE c.type = 'task_completed' AND c.element_id IS NOT NULL
)"""


def marks_ctes(
    dialect: str,
    prefix: str,
    *,
    source: str,
    cases: str,
    bound: str,
    breach: str,
    ready_from: str = "index",
) -> str:
    """CTEs ``{prefix}_occ`` (kind, key, at, prev), ``{prefix}_hocc`` (the same by hour:
    kind, key, hour, ``c`` marks in it, ``prev_hour`` the case's previous hour with that
    mark), ``{prefix}_wt`` (key, at, secs) and ``{prefix}_br`` (key, at) for the cases
    of version ``:p``/``:v`` (read from ``source``) that ``cases`` (a condition on the
    event ``e``) selects, over their events with ``id <= bound`` (``bound`` a bound
    parameter, or empty for all). Needs ``fl``. ``ready_from``: see ``_waits``."""
    p = prefix
    join, elements_ok = _ELEMENTS[dialect]
    limit = f" AND e.id <= {bound}" if bound else ""
    of_version = "c.process_id = :p AND c.process_version = :v"
    steps_src = SOURCES[source].format(e="s")
    steps_cases = re.sub(r"\be\.", "s.", cases)
    steps_limit = limit.replace("e.id", "s.id")
    hour = hour_of(dialect, "at")
    return f"""{p}_ev AS (
  SELECT e.id, e.case_id, e.type, e.element_id, e.task_id, e.at
  FROM audit_event e JOIN {SOURCES[source].format(e="e")}
  WHERE {of_version} AND {cases}{limit}
),
{p}_ran AS (
  SELECT s.id, s.case_id, s.at, j.value AS element_id
  FROM audit_event s JOIN {steps_src}{join}
  WHERE {of_version} AND {steps_cases}{steps_limit} AND s.type = 'engine_steps'
    AND {elements_ok}
),
{p}_pass AS (
  SELECT case_id, element_id, at, id FROM {p}_ev
  WHERE type = 'task_completed' AND element_id IS NOT NULL
  UNION ALL SELECT case_id, element_id, at, id FROM {p}_ran
),
{p}_reach AS (
  SELECT case_id, element_id, at, id FROM {p}_pass
  UNION ALL SELECT case_id, element_id, at, id FROM {p}_ev
  WHERE type IN ('task_ready', 'incident_raised') AND element_id IS NOT NULL
),
{p}_mk AS (
  SELECT case_id, 'case' AS kind, '' AS key, at, id FROM {p}_ev
  UNION ALL SELECT case_id, 'passed', element_id, at, id FROM {p}_pass
  UNION ALL SELECT case_id, 'reached', element_id, at, id FROM {p}_reach
  UNION ALL SELECT case_id, CASE type WHEN 'task_ready' THEN 'ready'
      WHEN 'task_escalated' THEN 'escalated' ELSE 'incident' END, element_id, at, id
    FROM {p}_ev WHERE type IN ('task_ready', 'task_escalated', 'incident_raised')
      AND element_id IS NOT NULL
  UNION ALL SELECT m.case_id, 'flow', fl.flow_id, m.at, m.id
    FROM {p}_pass m JOIN fl ON fl.source = m.element_id
  UNION ALL SELECT m.case_id, 'flow', fl.flow_id, m.at, m.id
    FROM {p}_reach m JOIN fl ON fl.target = m.element_id
),
{p}_occ AS (
  SELECT kind, key, at,
    LAG(at) OVER (PARTITION BY case_id, kind, key ORDER BY at, id) AS prev
  FROM {p}_mk
),
{p}_hm AS (
  SELECT case_id, kind, key, {hour} AS hour, COUNT(*) AS c FROM {p}_mk
  GROUP BY case_id, kind, key, {hour}
),
{p}_hocc AS (
  SELECT kind, key, hour, c,
    LAG(hour) OVER (PARTITION BY case_id, kind, key ORDER BY hour) AS prev_hour
  FROM {p}_hm
),
{_waits(dialect, p, ready_from, limit)},
{p}_br AS (
  SELECT r.element_id AS key, r.at FROM {p}_ev r {BREACHES[breach]}
    r.type = 'task_ready' AND r.element_id IS NOT NULL
)"""
