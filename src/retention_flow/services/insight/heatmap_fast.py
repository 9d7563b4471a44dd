# ruff: noqa: S608  -- the SQL is built from constant fragments only; every value is bound
"""The heatmap's figures from the rollup (``heatmap_rollup.py``), exact for counts.

For a period ``[s, e)`` that spans at least one whole hour ``[h1, h2)``, one statement:

- the rollup rows of the hours ``[h1, h2)``: what every case added, all events up to
  the watermark ``w``;
- minus, for the cases in ``x`` (the cases with events after ``w``: the rollup has not
  seen them yet), what they added to those hours (from their events up to ``w``, under
  the version and breaches the rollup recorded for them), and plus their exact figures
  over ``[s, e)`` from all their events now;
- plus, for the other cases with events in the partial hours at the edges ``[s, h1)``
  and ``[h2, e)`` (``y``), what those partial hours add, read from their events of the
  period ``[s, e)`` only (the index on a case's events by time): every mark there
  counts once more, and a case counts once more for a mark (distinct cases) when it has
  that mark in the edges and none in the whole hours (the rollup counted it exactly when
  it has one there: its first mark in ``[h1, h2)`` has its previous mark before ``h1``);
  no previous mark is looked up and no case's mark history is counted twice over, so an
  edge costs its own events (measured: ``bench/heatmap.py``, "edges inside hours");
- plus the SLA breaches of tasks still open (not in ``x``): an open task breaches once
  the period's end (or now) passes its due time, which no rollup can know in advance.

Counts (cases, times, entered, escalations, incidents, breaches, flows) are then the
audit trail's exactly. Waits come from the histogram: p50/p95 within ``WAIT_TOLERANCE``
(1.98 %) of the nearest-rank percentile of the raw waits (``heatmap.py`` keeps the exact
path: no rollup yet, or a period shorter than the hours it would need).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from retention_flow.db.types import UTCDateTime
from retention_flow.engine.diagram import Flow
from retention_flow.services.insight.heatmap_marks import (
    DISTINCT_KINDS,
    bucket_of,
    bucket_value,
    flows_cte,
    hour_of,
    marks_ctes,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
_X = "e.case_id IN (SELECT case_id FROM x)"
_Y = "e.at >= :start AND e.at < :end"
_EDGE = "(at < :h1t OR at >= :h2t)"
#: the watermark, read in the same snapshot as the rollup it describes (``heatmap.py``
#: reads in one REPEATABLE READ transaction on PostgreSQL; a SQLite read transaction
#: keeps its snapshot): a batch committed in between would otherwise count twice
_W = ":w"


@dataclass
class Figures:
    """The heatmap's figures per element and flow (see ``heatmap.py``)."""

    total: int = 0
    passed: dict[str, tuple[int, int]] = field(default_factory=dict)  # times, cases
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # entered, esc., inc.
    waits: dict[str, tuple[int, float | None, float | None]] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)
    taken: dict[str, int] = field(default_factory=dict)


def whole_hours(start: datetime, end: datetime) -> tuple[int, int]:
    """The first whole hour at or after ``start`` and the hour ``end`` falls in (hours
    since 1970): the period holds whole hours iff the first is below the second."""
    return -((EPOCH - start) // HOUR), (end - EPOCH) // HOUR


def _sql(dialect: str) -> str:
    m = marks_ctes(dialect, "m", source="rolled", cases=_X, bound=_W, breach="rolled")
    q = marks_ctes(dialect, "q", source="case", cases=_X, bound="", breach="exact")
    g = marks_ctes(dialect, "g", source="y", cases=_Y, bound="", breach="rolled")
    hour, in_hours = hour_of(dialect, "at"), "BETWEEN :h1 AND :h2 - 1"
    distinct = ", ".join(f"'{k}'" for k in DISTINCT_KINDS)
    return f"""WITH __FLOWS__,
x AS (SELECT DISTINCT case_id FROM audit_event WHERE id > {_W} AND case_id IS NOT NULL),
y AS (
  SELECT d.case_id,
    (SELECT h.process_id FROM heatmap_case h WHERE h.case_id = d.case_id) AS process_id,
    (SELECT h.process_version FROM heatmap_case h WHERE h.case_id = d.case_id)
      AS process_version
  FROM (
    SELECT case_id FROM audit_event WHERE case_id IS NOT NULL
      AND ((at >= :start AND at < :h1t) OR (at >= :h2t AND at < :end))
    EXCEPT SELECT case_id FROM x
  ) d
),
{m},
{q},
{g},
t AS (
  SELECT kind, key, CASE WHEN kind = 'wait' THEN sub ELSE -1 END AS sub, n AS n_all,
    CASE WHEN sub < :h1 THEN n ELSE 0 END AS n_first
  FROM heatmap_rollup WHERE process_id = :p AND process_version = :v AND hour {in_hours}
  UNION ALL SELECT kind, key, -1, -c,
    CASE WHEN prev_hour IS NULL OR prev_hour < :h1 THEN -1 ELSE 0 END
  FROM m_hocc WHERE hour {in_hours}
  UNION ALL SELECT 'wait', key, {bucket_of(dialect, "secs")}, -1, 0 FROM m_wt
  WHERE {hour} {in_hours}
  UNION ALL SELECT 'breach', key, -1, -1, 0 FROM m_br WHERE {hour} {in_hours}
  UNION ALL SELECT kind, key, -1, 1, CASE WHEN prev IS NULL OR prev < :start THEN 1 ELSE 0 END
  FROM q_occ WHERE at >= :start AND at < :end
  UNION ALL SELECT 'wait', key, {bucket_of(dialect, "secs")}, 1, 0 FROM q_wt
  WHERE at >= :start AND at < :end
  UNION ALL SELECT 'breach', key, -1, 1, 0 FROM q_br WHERE at >= :start AND at < :end
  UNION ALL SELECT kind, key, -1, 1, 0 FROM g_mk WHERE {_EDGE}
  UNION ALL SELECT kind, key, -1, 0, 1 FROM g_mk WHERE kind IN ({distinct})
  GROUP BY case_id, kind, key
  HAVING MAX(CASE WHEN at >= :h1t AND at < :h2t THEN 1 ELSE 0 END) = 0
  UNION ALL SELECT 'wait', key, {bucket_of(dialect, "secs")}, 1, 0 FROM g_wt WHERE {_EDGE}
  UNION ALL SELECT 'breach', key, -1, 1, 0 FROM g_br WHERE {_EDGE}
  UNION ALL SELECT 'breach', r.element_id, -1, 1, 0
  FROM work_item w JOIN audit_event r ON r.task_id = w.id AND r.type = 'task_ready'
    JOIN "case" c ON c.id = r.case_id
  WHERE w.ended_at IS NULL AND w.due_at < :asof AND r.element_id IS NOT NULL
    AND c.process_id = :p AND c.process_version = :v AND r.at >= :start AND r.at < :end
    AND r.case_id NOT IN (SELECT case_id FROM x)
)
SELECT kind, key, sub, SUM(n_all) AS n_all, SUM(n_first) AS n_first
FROM t GROUP BY kind, key, sub"""


def watermark(session: Session) -> int:
    """The last audit event id in the rollup (0: no rollup yet)."""
    found = session.execute(
        text("SELECT last_event_id FROM heatmap_watermark WHERE name = 'heatmap'")
    ).scalar_one_or_none()
    return int(found or 0)


def _percentile(hist: dict[int, int], q: int) -> float | None:
    total = sum(hist.values())
    if total <= 0:
        return None
    rank, seen = (q * total + 99) // 100, 0
    for k in sorted(hist):
        seen += hist[k]
        if seen >= rank:
            return round(bucket_value(k), 3)
    return None  # pragma: no cover - the ranks are within the total


def figures(
    session: Session, dialect: str, params: dict[str, Any], flows: list[Flow], w: int
) -> Figures:
    """The figures of ``params`` (``p``, ``v``, ``start``, ``end``, ``asof``) for a
    period with whole hours in it, from the rollup and the events after its watermark
    ``w`` (read in the same snapshot)."""
    h1, h2 = whole_hours(params["start"], params["end"])
    fl, flow_params = flows_cte(flows)
    stmt = text(_sql(dialect).replace("__FLOWS__", fl)).bindparams(
        *(bindparam(k, type_=UTCDateTime) for k in ("start", "end", "asof", "h1t", "h2t"))
    )
    rows = session.execute(
        stmt,
        {
            **params,
            **flow_params,
            "w": w,
            "h1": h1,
            "h2": h2,
            "h1t": EPOCH + h1 * HOUR,
            "h2t": EPOCH + h2 * HOUR,
        },
    ).all()
    every: dict[tuple[str, str], int] = defaultdict(int)
    first: dict[tuple[str, str], int] = defaultdict(int)
    hist: dict[str, dict[int, int]] = defaultdict(dict)
    for kind, key, sub, n_all, n_first in rows:
        if kind == "wait":
            hist[key][int(sub)] = int(n_all)
        else:
            every[kind, key] += int(n_all)
            first[kind, key] += int(n_first)
    return _assemble(every, first, hist, flows)


def _assemble(
    every: dict[tuple[str, str], int],
    first: dict[tuple[str, str], int],
    hist: dict[str, dict[int, int]],
    flows: list[Flow],
) -> Figures:
    out = Figures(total=first["case", ""])
    keys = {key for kind, key in every if kind != "case"}
    for key in sorted(keys):
        if every["passed", key]:
            out.passed[key] = (every["passed", key], first["passed", key])
        trio = (every["ready", key], every["escalated", key], every["incident", key])
        if any(trio):
            out.counts[key] = trio
        if every["breach", key]:
            out.breaches[key] = every["breach", key]
    for key, buckets in hist.items():
        n = sum(buckets.values())
        if n:
            out.waits[key] = (n, _percentile(buckets, 50), _percentile(buckets, 95))
    for f in flows:
        both = first["passed", f.source] + first["reached", f.target] - first["flow", f.id]
        out.taken[f.id] = both
    return out
