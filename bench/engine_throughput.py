"""Engine throughput: the same 3-human-step diagram run N times

  (a) bare SpiffWorkflow in memory, with a serializer round trip after every step
      (the baseline, measured in this same run),
  (b) through our service layer on a SQLite file (state, work items, timers and
      hash-chained audit in one transaction per step),
  (c) the same on PostgreSQL when RETENTION_FLOW_BENCH_PG_URL (or
      RETENTION_FLOW_TEST_DATABASE_URL) is set,

and prints cases/s, the ratio b/a (target >= 1.0 on SQLite, c/a >= 0.8 on PostgreSQL),
statements, round trips and commits per step or case (counted by SQLAlchemy event
listeners, see ``Traffic``), and the p50/p95
of listing a role's queue with 1k and with 100k open work items (target: the 100k
figure at most 1.5x the 1k one).

Scripts: the service layer runs the diagram's script (``attempts = 0; score = 42``) and its
gateway condition inline, in the serving process, as every bounded straight-line script
(``engine/sandbox_policy.is_inline``); other scripts go to a worker process. The line
"all scripts in workers" repeats (b) with the inline path switched off (every script and
condition a round trip to a worker: the worst case) and prints its ratio too.

    python bench/engine_throughput.py [--cases 500] [--queue-sizes 1000,100000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retention_flow.core.clock import SystemClock  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.db.migrate import upgrade  # noqa: E402
from retention_flow.db.models import WorkItem  # noqa: E402
from retention_flow.db.session import create_db_engine  # noqa: E402
from retention_flow.engine import sandbox_policy  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.services.cases import lifecycle as cases  # noqa: E402
from retention_flow.services.platform.context import Actor, AppContext  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402
from retention_flow.services.steps.write import PIPELINED  # noqa: E402
from retention_flow.services.tasks import work_items as tasks  # noqa: E402

BUNDLE = ROOT / "tests" / "data" / "three_steps"
PROCESS = "three_steps"
PATH = [
    ("call_customer", {"call_result": "reached"}),
    ("present_offer", {"offer_response": "accepted"}),
    ("confirm_change", {"confirmation_channel": "sms"}),
]
AGENT = Actor("bench", frozenset({"agent", "telemarketing"}))
#: a case is started and its three tasks completed: four steps, four commits
STEPS_PER_CASE = 1 + len(PATH)
#: the ratio each backend aims at (issue 15): b SQLite, c PostgreSQL
TARGET = {"b": 1.0, "c": 0.8}


def bare_spiff(n: int) -> float:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(p) for p in BUNDLE.glob("*.bpmn")])
    spec = parser.get_spec(PROCESS)
    subs = parser.get_subprocess_specs(PROCESS)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    started = time.perf_counter()
    for _ in range(n):
        wf = BpmnWorkflow(spec, subs)
        wf.do_engine_steps()
        wf = serializer.deserialize_json(serializer.serialize_json(wf))
        for element_id, data in PATH:
            [task] = [
                t
                for t in wf.get_tasks(state=TaskState.READY, manual=True)
                if t.task_spec.bpmn_id == element_id
            ]
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
            wf = serializer.deserialize_json(serializer.serialize_json(wf))
        assert wf.completed
    return n / (time.perf_counter() - started)


def make_context(url: str) -> AppContext:
    engine = create_db_engine(url)
    upgrade(engine)
    settings = Settings(
        database_url=url,
        audit_key_file=str(Path(tempfile.gettempdir()) / "bench-audit-keys.json"),
    )
    ctx = AppContext(settings, clock=SystemClock(), engine=engine)
    processes.deploy(
        ctx, load_bundle_path(BUNDLE), Actor("bench-owner", frozenset({"process_owner"}))
    )
    return ctx


class Traffic:
    """Statements and database round trips, counted with SQLAlchemy event listeners.

    A round trip is a statement sent on its own, a batch of statements sent in one
    pipeline (PostgreSQL, ``step_write.batch``), a commit, and on PostgreSQL also the
    ``BEGIN`` psycopg sends before a transaction's first statement and the pool's
    pre-ping on checkout. On SQLite there is no server: its "round trips" are the calls
    into the library (statements, of which ``BEGIN IMMEDIATE`` is one, and commits).
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements = self.round_trips = self.commits = 0
        self._pipelined = False
        self._pg = engine.dialect.name == "postgresql"
        self._hooks: list[tuple[Any, str, Any]] = [
            (engine, "before_cursor_execute", self._statement),
            (engine, "commit", self._commit),
            (engine, "begin", self._begin),
            (engine.pool, "checkout", self._checkout),
        ]

    def __enter__(self) -> Traffic:
        for target, name, fn in self._hooks:
            event.listen(target, name, fn)
        return self

    def __exit__(self, *_exc: object) -> None:
        for target, name, fn in self._hooks:
            event.remove(target, name, fn)

    def _statement(self, conn: Any, *_args: Any) -> None:
        self.statements += 1
        pipelined = bool(conn.info.get(PIPELINED))
        if not (pipelined and self._pipelined):
            self.round_trips += 1
        self._pipelined = pipelined

    def _commit(self, _conn: Any) -> None:
        self.commits += 1
        self.round_trips += 1
        self._pipelined = False

    def _begin(self, _conn: Any) -> None:
        if self._pg:
            self.round_trips += 1

    def _checkout(self, *_args: Any) -> None:
        if self._pg and self.engine.pool._pre_ping:
            self.round_trips += 1


def traffic_of(ctx: AppContext, n: int) -> Traffic:
    """The statements, round trips and commits of ``n`` cases (a run of its own: the
    listeners would slow the timed rounds down)."""
    traffic = Traffic(ctx.db)
    with traffic:
        service_layer(ctx, n)
    return traffic


def service_layer(ctx: AppContext, n: int) -> float:
    """Run ``n`` cases through the service layer: cases/s."""
    started = time.perf_counter()
    for _ in range(n):
        case = cases.start_case(ctx, AGENT, PROCESS, {"customer_id": "C-1"})
        task_id = case.open_tasks[0].id
        for index, (_element, data) in enumerate(PATH):
            result = tasks.complete(ctx, AGENT, task_id, data)
            if index < len(PATH) - 1:
                task_id = result.next_tasks[0].id
        assert result.case.status == "completed", result.case
    return n / (time.perf_counter() - started)


def seal_share(ctx: AppContext, cases_per_s: float) -> None:
    """What sealing the audit trail costs a step, measured in this run: one HMAC per event
    and one per head (services/audit/seal.py), against the time of a step."""
    with ctx.db.connect() as conn:
        n_events = conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one()
        n_cases = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
    steps = n_cases * (1 + len(PATH))  # the start and one completion per task
    events_per_step = n_events / steps
    keys = ctx.audit_keys.current()
    digest = "ab" * 32
    repeats = 20_000
    t0 = time.perf_counter()
    for i in range(repeats):
        keys.seal(b"retention-flow/audit-event", "c0ffee00-1234-5678-9abc-def012345678", i, digest)
    seal_us = (time.perf_counter() - t0) / repeats * 1e6
    step_us = 1e6 / (cases_per_s * (1 + len(PATH)))
    per_step = seal_us * (events_per_step + 1)
    print(
        f"    audit seals: {seal_us:.2f} us per HMAC, {events_per_step:.1f} events + 1 head per "
        f"step = {per_step:.1f} us of a {step_us:.0f} us step ({per_step / step_us:.2%})"
    )


def fill_queue(ctx: AppContext, total: int) -> None:
    """Bring the open work items of the role to ``total`` (bulk insert, one case row)."""
    with ctx.db.begin() as conn:
        current = conn.execute(
            text("SELECT count(*) FROM work_item WHERE state = 'ready'")
        ).scalar_one()
        missing = total - current
        if missing <= 0:
            return
        case_id = conn.execute(text('SELECT id FROM "case" LIMIT 1')).scalar_one()
        now = SystemClock().now()
        rows = [
            {
                "id": str(uuid.uuid4()),
                "case_id": case_id,
                "business_key": None,
                "process_id": PROCESS,
                "element_id": "call_customer",
                "name": "Call customer",
                "role": "telemarketing",
                "state": "ready",
                "claimed_by": None,
                "claimed_at": None,
                "due_at": now + timedelta(minutes=(i * 7919) % 100_000),
                "priority": i % 100,
                "form": None,
                "created_at": now,
                "ended_at": None,
                "ended_by": None,
            }
            for i in range(missing)
        ]
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(WorkItem.__table__), rows[start : start + 10_000])  # type: ignore[attr-defined]
        if ctx.db.dialect.name == "postgresql":
            conn.execute(text("ANALYZE work_item"))
        else:
            conn.execute(text("ANALYZE"))


def queue_latency(ctx: AppContext, repeats: int = 300) -> tuple[float, float]:
    for _ in range(20):
        tasks.list_queue(ctx, AGENT, limit=50)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        page = tasks.list_queue(ctx, AGENT, limit=50)
        samples.append((time.perf_counter() - t0) * 1000)
        assert len(page) == 50
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


@contextlib.contextmanager
def all_scripts_in_workers() -> Iterator[None]:
    """No script counts as inline (bench only): each one is a worker round trip."""
    saved = sandbox_policy.INLINE_MAX_NODES
    sandbox_policy.INLINE_MAX_NODES = 0
    sandbox_policy.compile_script.cache_clear()
    try:
        yield
    finally:
        sandbox_policy.INLINE_MAX_NODES = saved
        sandbox_policy.compile_script.cache_clear()


def run_backend(name: str, url: str, n: int, sizes: list[int], rounds: int) -> None:
    """Rounds alternate baseline and service layer, so machine noise hits both alike;
    the ratio reported is the median of the per-round ratios."""
    ctx = make_context(url)
    service_layer(ctx, max(10, n // 10))  # warm-up: imports, caches, statement cache
    ratios, rates, bases = [], [], []
    for _ in range(rounds):
        base = bare_spiff(n)
        rate = service_layer(ctx, n)
        bases.append(base)
        rates.append(rate)
        ratios.append(rate / base)
    print(
        f"({name}) service layer: {statistics.median(rates):8.1f} cases/s "
        f"(bare SpiffWorkflow in the same rounds: {statistics.median(bases):.1f})   "
        f"ratio (median of {rounds} rounds): {statistics.median(ratios):.2f} "
        f"[{', '.join(f'{r:.2f}' for r in ratios)}]   target >= {TARGET[name[:1]]}"
    )
    counted = max(10, n // 10)
    traffic = traffic_of(ctx, counted)
    steps = counted * STEPS_PER_CASE
    print(
        f"    per step: {traffic.statements / steps:.2f} statements, "
        f"{traffic.round_trips / steps:.2f} round trips   "
        f"commits/case: {traffic.commits / counted:.1f}"
    )
    seal_share(ctx, statistics.median(rates))
    with all_scripts_in_workers():
        ctx.live.clear()
        service_layer(ctx, max(10, n // 10))
        forced = []
        for _ in range(rounds):
            base = bare_spiff(n)
            rate = service_layer(ctx, n)
            forced.append(rate / base)
    print(
        f"({name}) all scripts in workers: ratio (median of {rounds} rounds): "
        f"{statistics.median(forced):.2f} [{', '.join(f'{r:.2f}' for r in forced)}]"
    )
    figures = {}
    for size in sizes:
        fill_queue(ctx, size)
        p50, p95 = queue_latency(ctx)
        figures[size] = (p50, p95)
        print(f"({name}) queue list, {size:>7,} open items: p50 {p50:6.3f} ms   p95 {p95:6.3f} ms")
    if len(sizes) >= 2:
        small, large = figures[sizes[0]], figures[sizes[-1]]
        print(
            f"({name}) queue p95 ratio {sizes[-1]:,} vs {sizes[0]:,}: "
            f"{large[1] / small[1]:.2f}  (target <= 1.5)"
        )
    ctx.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--queue-sizes", default="1000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.queue_sizes.split(",") if s]

    bare_spiff(20)  # warm-up
    first = bare_spiff(args.cases)
    print(f"(a) bare SpiffWorkflow + serializer round trip per step: {first:8.1f} cases/s")
    with tempfile.TemporaryDirectory() as tmp:
        run_backend("b: SQLite", f"sqlite:///{tmp}/bench.db", args.cases, sizes, args.rounds)
    pg_url = os.environ.get("RETENTION_FLOW_BENCH_PG_URL") or os.environ.get(
        "RETENTION_FLOW_TEST_DATABASE_URL"
    )
    if pg_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_db_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in pg_url else "?"
        try:
            run_backend(
                "c: PostgreSQL",
                f"{pg_url}{sep}options=-csearch_path%3D{schema}",
                args.cases,
                sizes,
                args.rounds,
            )
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        print("(c) PostgreSQL: not run (set RETENTION_FLOW_BENCH_PG_URL)")


if __name__ == "__main__":
    main()
