# ruff: noqa: S608  -- the SQL is built from constant fragments only; every value is bound
"""The heatmap rollup: the audit trail's marks (``heatmap_marks.py``) counted per process
version, kind, element or flow and hour, kept up to date after a watermark.

Why a rollup keyed by hour and "previous mark": the whole-period heatmap read every event
of the period (390 s at a million cases on PostgreSQL). The rollup holds a few rows per
element and hour instead, and every figure the heatmap shows is a sum over them: counts
add up, distinct cases add up through the ``prev`` hour (a case counts in a range of
whole hours at its first mark there, whose previous mark is before the range), and waits
add up as histograms (log-spaced buckets, 1.98 % at most off). Hours, not days: the read
(``heatmap_fast.py``) counts the cases with events in the partial hours at a period's
edges from the raw events, so the smaller the unit, the fewer of them.

How it stays exact: the rollup holds every audit event with an id up to the watermark
and none after it. A batch takes the events after the watermark (up to ``batch``), and
for each case among them *subtracts* what the case added when it was last rolled up (its
events up to the old watermark, under the version recorded in ``heatmap_case``, with the
breaches recorded in ``heatmap_breach``) and *adds* it again from all its events up to
the new watermark, under its version now. So a case migrated to a new version moves
there, and a task that ended late since is counted. The read does the same subtraction
and addition for the cases with events after the watermark, so it never waits for the
worker.

Concurrency: one batch is one transaction that holds the watermark row (``FOR UPDATE``
on PostgreSQL; SQLite has one writer at a time), so two workers never count one event
twice. The new watermark is an id below which every event has committed or never will
(``heatmap_safe.safe_max``: on PostgreSQL it waits, locking nothing, for the
transactions that were writing audit events to end) — without it an event whose
transaction commits late could get an id below the watermark and never be counted.
Step transactions do no extra work and never wait for the rollup.

``rebuild`` empties the rollup and counts everything up to the newest event again (one
transaction): the command after a restore, and what the first batch does on a database
whose rollup is empty. Running it twice, or ``catch_up`` when nothing is new, changes
nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session

from retention_flow.core.errors import ValidationFailed
from retention_flow.db.session import write_session
from retention_flow.db.types import UTCDateTime
from retention_flow.engine.diagram import Flow, diagram_shape
from retention_flow.services.insight.heatmap_marks import (
    DISTINCT_KINDS,
    bucket_of,
    flows_cte,
    hour_of,
    marks_ctes,
)
from retention_flow.services.insight.heatmap_safe import safe_max
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models.deployments import get_version, version_xml

log = logging.getLogger(__name__)

WATERMARK = "heatmap"
BATCH = 50_000
#: a rebuild (a command) waits longer than a worker's batch for open writers to end
REBUILD_SETTLE_SECONDS = 30.0

_DIRTY = "e.case_id IN (SELECT d.case_id FROM audit_event d WHERE d.id > :lo AND d.id <= :hi)"
_CHUNK = "e.case_id > :after AND e.case_id <= :upto"
CHUNK = 20_000
WORK_MEM = "256MB"


def _upsert_sql(dialect: str, cases: str, bound: str, source: str, ready_from: str) -> str:
    """Add (``:sign`` 1) or take away (-1) the marks of the selected cases of ``:p``/``:v``."""
    distinct = ", ".join(f"'{k}'" for k in DISTINCT_KINDS)
    ctes = marks_ctes(
        dialect, "m", source=source, cases=cases, bound=bound, breach="rolled",
        ready_from=ready_from,
    )  # fmt: skip
    hour = hour_of(dialect, "at")
    return f"""INSERT INTO heatmap_rollup (process_id, process_version, kind, key, hour, sub, n)
WITH __FLOWS__, {ctes},
t AS (
  SELECT kind, key, hour, COALESCE(prev_hour, -1) AS sub, 1 AS n
  FROM m_hocc WHERE kind IN ({distinct})
  UNION ALL SELECT kind, key, hour, hour, c - 1 FROM m_hocc WHERE kind IN ({distinct}) AND c > 1
  UNION ALL SELECT kind, key, hour, -1, c FROM m_hocc WHERE kind NOT IN ({distinct})
  UNION ALL SELECT 'wait', key, {hour}, {bucket_of(dialect, "secs")}, 1 FROM m_wt
  UNION ALL SELECT 'breach', key, {hour}, -1, 1 FROM m_br
)
SELECT :p, :v, kind, key, hour, sub, :sign * SUM(n) FROM t WHERE TRUE
GROUP BY kind, key, hour, sub
ON CONFLICT (process_id, process_version, kind, key, hour, sub)
DO UPDATE SET n = heatmap_rollup.n + excluded.n"""


def _flows(ctx: AppContext, session: Session, p: str, v: int) -> list[Flow]:
    pv = get_version(session, p, v)
    return diagram_shape(pv.file_name, version_xml(ctx, p, v))[1]


def _apply(
    ctx: AppContext, session: Session, pv: tuple[str, int], params: dict[str, Any], **how: str
) -> None:
    dialect = session.get_bind().dialect.name
    fl, flow_params = flows_cte(_flows(ctx, session, *pv))
    sql = _upsert_sql(dialect, how["cases"], how["bound"], how["source"], how["ready_from"])
    sql = sql.replace("__FLOWS__", fl)
    session.execute(text(sql), {**params, **flow_params, "p": pv[0], "v": pv[1]})


def _versions(session: Session, table: str, key: str, cases: str, params: dict[str, Any]) -> Any:
    sql = f"SELECT DISTINCT c.process_id, c.process_version FROM {table} c WHERE " + cases.replace(
        "e.case_id", f"c.{key}"
    )
    return [(r[0], int(r[1])) for r in session.execute(text(sql), params)]


def _add(
    ctx: AppContext, session: Session, cases: str, params: dict[str, Any], analyze: bool = False
) -> None:
    """Record the selected cases' version now (``heatmap_case``) and their tasks ended
    late (``heatmap_breach``), then count them, up to ``:hi``, from that record: what a
    later subtraction reads, even if a case or task changes while the batch runs."""
    session.execute(
        text(
            "INSERT INTO heatmap_case (case_id, process_id, process_version) "
            'SELECT c.id, c.process_id, c.process_version FROM "case" c WHERE '
            + cases.replace("e.case_id", "c.id")
        ),
        params,
    )
    session.execute(
        text(
            "INSERT INTO heatmap_breach (task_id, case_id) "
            "SELECT DISTINCT r.task_id, r.case_id FROM audit_event r "
            "JOIN work_item w ON w.id = r.task_id "
            "WHERE r.type = 'task_ready' AND r.element_id IS NOT NULL AND r.id <= :hi "
            "AND w.ended_at IS NOT NULL AND w.ended_at > w.due_at AND "
            + cases.replace("e.case_id", "r.case_id")
        ),
        params,
    )
    if analyze and session.get_bind().dialect.name == "postgresql":
        # a rebuild: the rows just written, in the planner's statistics (else it takes
        # the emptied table for empty and may scan it once per case)
        session.execute(text("ANALYZE heatmap_case, heatmap_breach"))
    for pv in _versions(session, "heatmap_case", "case_id", cases, params):
        _apply(
            ctx, session, pv, {**params, "sign": 1},
            cases=cases, bound=":hi", source="rolled", ready_from="ev" if analyze else "index",
        )  # fmt: skip


def _subtract(ctx: AppContext, session: Session, cases: str, params: dict[str, Any]) -> None:
    """Take away what the selected cases added when they were last rolled up (their
    events up to ``:lo``), then forget them."""
    for pv in _versions(session, "heatmap_case", "case_id", cases, params):
        _apply(
            ctx, session, pv, {**params, "sign": -1},
            cases=cases, bound=":lo", source="rolled", ready_from="index",
        )  # fmt: skip
    for table in ("heatmap_breach", "heatmap_case"):
        where = cases.replace("e.case_id", f"{table}.case_id")
        session.execute(text(f"DELETE FROM {table} WHERE {where}"), params)
    session.execute(text("DELETE FROM heatmap_rollup WHERE n = 0"))


def _watermark(session: Session, wait: bool = True) -> int | None:
    """Lock the watermark row (made on first use) and return it; without ``wait``, None
    when another transaction holds it (PostgreSQL: a worker does not stall its timers
    behind a rebuild; SQLite's writer lock already made everyone wait at BEGIN)."""
    session.execute(
        text(
            "INSERT INTO heatmap_watermark (name, last_event_id) VALUES (:n, 0) "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"n": WATERMARK},
    )
    lock = ""
    if session.get_bind().dialect.name == "postgresql":
        lock = " FOR UPDATE" if wait else " FOR UPDATE SKIP LOCKED"
    sql = f"SELECT last_event_id FROM heatmap_watermark WHERE name = :n{lock}"
    found = session.execute(text(sql), {"n": WATERMARK}).scalar_one_or_none()
    return None if found is None else int(found)


def _move(ctx: AppContext, session: Session, to: int) -> None:
    session.execute(
        text(
            "UPDATE heatmap_watermark SET last_event_id = :to, updated_at = :at WHERE name = :n"
        ).bindparams(bindparam("at", type_=UTCDateTime)),
        {"to": to, "at": ctx.now(), "n": WATERMARK},
    )


def roll_up_once(ctx: AppContext, batch: int = BATCH, wait: bool = True) -> int:
    """One batch: the events after the watermark, up to ``batch`` of them, into the
    rollup (a rebuild if the rollup is empty). Returns the events taken (0 as well when,
    without ``wait``, another worker or a rebuild holds the watermark)."""
    if batch < 1:
        raise ValidationFailed(
            "the batch is empty", errors=[{"field": "batch", "message": "at least 1"}]
        )
    top = safe_max(ctx)
    if top is None:
        log.warning("heatmap rollup: a transaction writing audit events is still open; later")
        return 0
    with write_session(ctx.db) as session:
        _tune(session)
        lo = _watermark(session, wait)
        if lo is None:
            return 0
        hi = min(top, lo + batch)
        if hi <= lo:
            return 0
        if lo == 0:
            hi = top
            _rebuild(ctx, session, top)
        else:
            params = {"lo": lo, "hi": hi}
            _subtract(ctx, session, _DIRTY, params)
            _add(ctx, session, _DIRTY, params)
        _move(ctx, session, hi)
        session.commit()
    return hi - lo


def catch_up(ctx: AppContext, batch: int = BATCH) -> int:
    """Roll up batches until none is left. Returns the events taken."""
    total = 0
    while taken := roll_up_once(ctx, batch):
        total += taken
    return total


def _tune(session: Session) -> None:
    """PostgreSQL, this transaction only: no JIT (see ``heatmap._tune``) and room to
    sort a chunk's marks in memory."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


def _rebuild(ctx: AppContext, session: Session, top: int, chunk: int = CHUNK) -> None:
    """Empty the rollup and count the cases again, ``CHUNK`` cases (by id) at a time so
    that a chunk's marks sort in memory."""
    for table in ("heatmap_rollup", "heatmap_case", "heatmap_breach"):
        session.execute(text(f"DELETE FROM {table}"))
    after = ""
    while True:
        upto = session.execute(
            text('SELECT id FROM "case" WHERE id > :a ORDER BY id LIMIT 1 OFFSET :k'),
            {"a": after, "k": chunk - 1},
        ).scalar_one_or_none()
        upto = (
            upto
            or session.execute(
                text('SELECT MAX(id) FROM "case" WHERE id > :a'), {"a": after}
            ).scalar_one_or_none()
        )
        if upto is None:
            return
        _add(ctx, session, _CHUNK, {"hi": top, "after": after, "upto": upto}, analyze=True)
        after = upto


def rebuild(ctx: AppContext, chunk: int = CHUNK) -> dict[str, int]:
    """Count everything again, up to the newest committed event, ``chunk`` cases at a
    time. Idempotent."""
    if chunk < 1:
        raise ValidationFailed(
            "the chunk is empty", errors=[{"field": "chunk", "message": "at least 1"}]
        )
    top = safe_max(ctx, settle=REBUILD_SETTLE_SECONDS)
    if top is None:
        raise TimeoutError("a transaction writing audit events stayed open; run it again")
    with write_session(ctx.db) as session:
        _tune(session)
        _watermark(session)
        _rebuild(ctx, session, top, chunk)
        _move(ctx, session, top)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE heatmap_rollup"))
        rows = session.execute(text("SELECT COUNT(*) FROM heatmap_rollup")).scalar_one()
        session.commit()
    return {"watermark": top, "rows": int(rows)}
