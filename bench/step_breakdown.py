"""Where a step's time goes: the service layer's step cut into stages, beside the bare
SpiffWorkflow baseline's (engine, serialize, deserialize), measured in the same run.

The diagram, cases and baseline are those of ``bench/engine_throughput.py``. Each stage
is timed around the function that does it (wall and the thread's CPU time), per step
(a case is four steps: the start and three task completions):

  engine       Runtime.run / new / snapshot (SpiffWorkflow: the operation and the
               automatic steps, reading what waits)
  state        Runtime.dump (the workflow state as JSON)
  audit        build_rows (canonical JSON, chain hash and HMAC seal per event)
  read         the work item and case head a completion loads (one SELECT)
  writes       write_step (the step's statements; "driver" is the part spent inside the
               database driver, from SQLAlchemy's cursor events)
  commit       the COMMIT (on SQLite: writing the WAL; on PostgreSQL: the fsync)
  rest         everything else (session, checks, plan stages, views, retries)

    python bench/step_breakdown.py [--cases 200] [--pg URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import engine_throughput as et
from retention_flow.db.session import create_db_engine
from retention_flow.engine.runtime import Runtime
from retention_flow.services.steps import save as steps
from retention_flow.services.tasks import work_items as tasks

STAGES = ("engine", "state", "audit", "read", "writes", "driver", "commit")


class Clock:
    """Wall and thread-CPU seconds per stage; ``timed`` wraps a function in place."""

    def __init__(self) -> None:
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def timed(self, owner: Any, name: str, stage: str) -> Iterator[None]:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[stage] += time.perf_counter() - w
                self.cpu[stage] += time.thread_time() - c

        setattr(owner, name, wrapper)
        try:
            yield
        finally:
            setattr(owner, name, original)


def service_breakdown(ctx: Any, n: int) -> tuple[Clock, float, float]:
    """Run ``n`` cases with the stage timers on: (clock, wall s, cpu s)."""
    clock = Clock()
    started: dict[str, float] = {}

    def before(*_args: Any) -> None:
        started["w"], started["c"] = time.perf_counter(), time.thread_time()

    def after(*_args: Any) -> None:
        clock.wall["driver"] += time.perf_counter() - started["w"]
        clock.cpu["driver"] += time.thread_time() - started["c"]

    dialect = type(ctx.db.dialect)
    wraps: list[tuple[Any, str, str]] = [
        (Runtime, "run", "engine"),
        (Runtime, "new", "engine"),
        (Runtime, "snapshot", "engine"),
        (Runtime, "dump", "state"),
        (steps, "build_rows", "audit"),
        (tasks, "load_item_with_head", "read"),
        (steps, "write_step", "writes"),
        (dialect, "do_commit", "commit"),
    ]
    with contextlib.ExitStack() as stack:
        for owner, name, stage in wraps:
            stack.enter_context(clock.timed(owner, name, stage))
        event.listen(ctx.db, "before_cursor_execute", before)
        event.listen(ctx.db, "after_cursor_execute", after)
        stack.callback(event.remove, ctx.db, "before_cursor_execute", before)
        stack.callback(event.remove, ctx.db, "after_cursor_execute", after)
        w, c = time.perf_counter(), time.process_time()
        et.service_layer(ctx, n)
        return clock, time.perf_counter() - w, time.process_time() - c


def bare_breakdown(n: int) -> tuple[Clock, float]:
    """The baseline with its serializer round trip timed: (clock, wall s)."""
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

    clock = Clock()
    with (
        clock.timed(BpmnWorkflowSerializer, "serialize_json", "serialize"),
        clock.timed(BpmnWorkflowSerializer, "deserialize_json", "deserialize"),
    ):
        w = time.perf_counter()
        et.bare_spiff(n)
        return clock, time.perf_counter() - w


def report(name: str, ctx: Any, n: int) -> None:
    et.service_layer(ctx, max(10, n // 10))  # warm-up
    bare, bare_wall = bare_breakdown(n)
    clock, wall, cpu = service_breakdown(ctx, n)
    steps_n = n * et.STEPS_PER_CASE
    per = 1e6 / steps_n
    bare_step = bare_wall * per
    bare_rt = (bare.wall["serialize"] + bare.wall["deserialize"]) * per
    print(
        f"({name}) step: {wall * per:6.0f} us wall, {cpu * per:5.0f} us CPU   "
        f"bare SpiffWorkflow step: {bare_step:5.0f} us, of which its serializer round "
        f"trip {bare_rt:4.0f} us (serialize {bare.wall['serialize'] * per:.0f}, "
        f"deserialize {bare.wall['deserialize'] * per:.0f})   ratio "
        f"{bare_step / (wall * per):.2f}"
    )
    shown = 0.0
    for stage in STAGES:
        w, c = clock.wall[stage] * per, clock.cpu[stage] * per
        if stage != "driver":
            shown += w
        label = "  of which driver" if stage == "driver" else stage
        print(f"    {label:18s} {w:6.0f} us wall {c:6.0f} us CPU   {w / (wall * per):6.1%}")
    rest = wall * per - shown
    print(f"    {'rest':18s} {rest:6.0f} us wall {'':17s}{rest / (wall * per):6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument(
        "--pg",
        default=os.environ.get("RETENTION_FLOW_BENCH_PG_URL")
        or os.environ.get("RETENTION_FLOW_TEST_DATABASE_URL"),
    )
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    et.bare_spiff(20)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        ctx = et.make_context(f"sqlite:///{tmp}/bench.db")
        report("SQLite", ctx, args.cases)
        ctx.dispose()
    if not args.pg:
        print("(PostgreSQL: not run; pass --pg or set RETENTION_FLOW_BENCH_PG_URL)")
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(args.pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.pg else "?"
    try:
        ctx = et.make_context(f"{args.pg}{sep}options=-csearch_path%3D{schema}")
        report("PostgreSQL", ctx, args.cases)
        ctx.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
