"""Migrating running cases: cases/s for ``--cases`` (10,000) running outbound cases spread
over the elements of the shipped outbound diagram, moved to a real change of it
(tests/outbound_change.py: the retry wait replaced, a gateway reading new data).

Cases: one real case per spot, driven through the engine (call task open; call task plus
the team lead's overdue task; the retry timer; inside the called mail process waiting for
the response form), then cloned in bulk (every task id fresh per clone, so work items and
timers stay one per task) up to ``--cases``, a quarter per spot.

Measured on the same cases, interleaved in rounds of ``--chunk`` cases (so a change in
the machine's load hits all three alike):

  baseline   a plain step of each case (load its state, run no operation, save with its
             work items, timers and audit head: ``stepping.step_case``), as a worker with
             no workflow cache does it;
  dry run    ``migrations.dry_run`` over all of them (read only);
  migration  ``migrations.start`` (one migration per round) then the worker's jobs
             (``run_jobs_once``) until done.

Prints cases/s of each and the ratio migration / baseline. On SQLite (temp file) and,
when RETENTION_FLOW_BENCH_PG_URL (or _TEST_DATABASE_URL) is set, on PostgreSQL.

    python bench/migration.py [--cases 10000] [--batch 200] [--chunk 1000]
"""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from _common import BUNDLE, OWNER, backends, make_context
from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CASE, CASE_KEY, TIMER, WORK_ITEM
from retention_flow.services.audit.trail import GENESIS
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import migrations
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps import runner as stepping
from retention_flow.services.tasks import work_items as tasks

T0 = datetime.fromisoformat("2026-01-05T09:00:00+00:00")
AGENT = Actor("bench-agent", frozenset({"agent", "telemarketing"}))
PROCESS = "outbound_telemarketing"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"][PROCESS]["start_data"]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def templates(ctx: AppContext, clock: FrozenClock) -> list[str]:
    """One real case per spot of the outbound diagram."""
    data = {**START, "preferred_channel": "phone"}
    escalated = cases.start_case(ctx, AGENT, PROCESS, data)
    clock.advance(timedelta(hours=5))
    while worker.fire_timers_once(ctx, "bench"):
        pass
    calling = cases.start_case(ctx, AGENT, PROCESS, data)
    waiting = cases.start_case(ctx, AGENT, PROCESS, data)
    tasks.complete(ctx, AGENT, waiting.open_tasks[0].id, {"reached": False})
    mail = cases.start_case(ctx, AGENT, PROCESS, {**data, "max_attempts": 1})
    tasks.complete(ctx, AGENT, mail.open_tasks[0].id, {"reached": False})
    return [escalated.id, calling.id, waiting.id, mail.id]


def _rows(session: Any, table: Any, case_id: str, **where: Any) -> list[dict[str, Any]]:
    query = select(table).where(table.c.case_id == case_id)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    return [dict(r) for r in session.execute(query).mappings()]


def clone(ctx: AppContext, template_ids: list[str], total: int) -> list[str]:
    """``total`` cases, cloned in turn from the templates with fresh ids."""
    made: list[str] = []
    with read_session(ctx.db) as session:
        sources = []
        for cid in template_ids:
            case = dict(session.execute(select(CASE).where(CASE.c.id == cid)).mappings().one())
            items = _rows(session, WORK_ITEM, cid, state="ready")
            timers = _rows(session, TIMER, cid, state="pending")
            keys = _rows(session, CASE_KEY, cid)
            sources.append((case, items, timers, keys))
    for start in range(0, total, 500):
        batch: dict[str, list[dict[str, Any]]] = {"case": [], "item": [], "timer": [], "key": []}
        for n in range(start, min(total, start + 500)):
            case, items, timers, keys = sources[n % len(sources)]
            fresh = {old: str(uuid.uuid4()) for old in set(UUID_RE.findall(case["state"]))}
            new_id = str(uuid.uuid4())
            state = UUID_RE.sub(lambda m, f=fresh: f[m.group(0)], case["state"])  # type: ignore[misc]
            batch["case"].append(
                {**case, "id": new_id, "state": state, "audit_seq": 0, "audit_hash": GENESIS}
            )
            batch["item"] += [{**i, "id": fresh[i["id"]], "case_id": new_id} for i in items]
            batch["timer"] += [{**t, "id": fresh[t["id"]], "case_id": new_id} for t in timers]
            batch["key"] += [{**k, "case_id": new_id} for k in keys]
            made.append(new_id)
        with write_session(ctx.db) as session:
            conn = session.connection()
            for table, rows in (
                (CASE, batch["case"]),
                (WORK_ITEM, batch["item"]),
                (TIMER, batch["timer"]),
                (CASE_KEY, batch["key"]),
            ):
                if rows:
                    conn.execute(insert(table), rows)
            session.commit()
    return made


def baseline(ctx: AppContext, ids: Iterable[str]) -> float:
    start = time.perf_counter()
    for cid in ids:
        stepping.step_case(ctx, Actor.system(), cid, lambda _s, _h: (None, [], {}))
    return time.perf_counter() - start


def migrate(ctx: AppContext, request: migrations.MigrationRequest) -> float:
    start = time.perf_counter()
    started = migrations.start(ctx, OWNER, request)
    handlers = worker.default_job_handlers()
    while worker.run_jobs_once(ctx, "bench-worker", handlers):
        pass
    took = time.perf_counter() - start
    progress = migrations.get_migration(ctx, started.id)
    assert progress.done == progress.total == len(request.case_ids or []), progress
    return took


def run(label: str, url: str, total: int, batch: int, chunk: int) -> None:
    # the diagram change the tests use (importable once _common put the repository root
    # on sys.path; an import at the top would be sorted above _common's)
    from tests.outbound_change import MAPPING, deploy_change

    clock = FrozenClock(T0)
    ctx = make_context(url, clock, workflow_cache_size=0, migration_batch_size=batch)
    times = {"baseline": 0.0, "dry run": 0.0, "migration": 0.0}
    try:
        ids = clone(ctx, templates(ctx, clock), total)
        v2 = deploy_change(ctx, OWNER)
        # interleaved per chunk, so a change in the machine's load hits all three alike
        for start in range(0, total, chunk):
            part = ids[start : start + chunk]
            times["baseline"] += baseline(ctx, part)
            request = migrations.MigrationRequest(
                PROCESS, 1, v2, case_ids=part, mapping=MAPPING, reason="bench"
            )
            t0 = time.perf_counter()
            plan = migrations.dry_run(ctx, OWNER, request, limit=1)
            times["dry run"] += time.perf_counter() - t0
            assert plan.total == len(part) == plan.can_migrate, plan.cases
            times["migration"] += migrate(ctx, request)
    finally:
        ctx.dispose()
    rate = {k: total / v for k, v in times.items()}
    print(
        f"{label}: {total} cases | baseline step {rate['baseline']:6.1f} cases/s | "
        f"dry run {rate['dry run']:6.1f} cases/s | migration {rate['migration']:6.1f} cases/s"
        f" | migration / baseline {rate['migration'] / rate['baseline']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200, help="cases per migration job")
    parser.add_argument("--chunk", type=int, default=1000, help="cases per interleaved round")
    args = parser.parse_args()
    for label, database in backends():
        with database() as url:
            run(label, url, args.cases, args.batch, args.chunk)


if __name__ == "__main__":
    main()
