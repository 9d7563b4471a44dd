"""Timer firing: N pending timers of which a small share is due.

  (a) firing cost: ``--due`` real outbound_telemarketing cases whose 4-hour call SLA
      timer (non-interrupting: it escalates to the team lead) is due, among ``--pending``
      pending timers in all; the rest are far-future timers of stub cases, bulk-inserted
      (SQLAlchemy Core, one stub case row each). The worker (``worker.fire_timers_once``
      passes until one fires nothing, with a cold workflow cache as in a worker process
      of its own) fires the due ones. One database per size, ``--rounds`` rounds each,
      interleaved; the ratio of the mean firing times, largest vs smallest size, is the
      figure to watch (target: close to 1 -- the cost grows with the due timers, not with
      all pending ones). Also the cost of an idle worker pass (nothing due) per size.
  (b) lateness: ``--rate`` due timers/s arriving over ``--seconds`` seconds, on the
      database of the largest size; ``worker.run_worker`` polls in a thread with a clock
      that follows real time; lateness = commit of the firing step - due time; p50/p99
      (target p99 < 1 s), once per ``--polls`` interval (1.0 s is run_worker's default).

On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is set, on PostgreSQL (a
schema of its own, dropped afterwards).

    python bench/timers.py [--due 1000] [--pending 10000,100000] [--rounds 2]
                           [--rate 50] [--seconds 20] [--polls 1.0,0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, text

from _common import backends, case_number, customer, make_context, percentile
from retention_flow.core.clock import FrozenClock
from retention_flow.db.tables import CASE, PROCESS_VERSION, TIMER
from retention_flow.services.audit.trail import GENESIS
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor, AppContext, LiveWorkflows

PROCESS = "outbound_telemarketing"
SLA = timedelta(hours=4)  # the call task's non-interrupting "Call overdue" timer
CAMPAIGN = Actor("bench-campaign", frozenset({"telemarketing"}))
T0 = datetime.fromisoformat("2026-01-05T09:00:00+00:00")


class BenchClock(FrozenClock):
    """Frozen while the bench sets up; follows real time from a chosen instant while the
    worker runs in its thread."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._real_start: float | None = None

    def now(self) -> datetime:
        base = super().now()
        if self._real_start is None:
            return base
        return base + timedelta(seconds=time.perf_counter() - self._real_start)

    def follow_real_time(self, start: datetime) -> None:
        self.set(start)
        self._real_start = time.perf_counter()

    def freeze(self) -> None:
        now = self.now()
        self._real_start = None
        self.set(now)


class CommitLog(LiveWorkflows):
    """The workflow cache, noting when each case's step committed (``put`` runs right
    after the commit of every step)."""

    def __init__(self, capacity: int, clock: BenchClock) -> None:
        super().__init__(capacity)
        self.clock = clock
        self.committed: dict[str, datetime] = {}
        self.recording = False

    def put(self, case_id: str, lock_version: int, workflow: Any) -> None:
        if self.recording:
            self.committed.setdefault(case_id, self.clock.now())
        super().put(case_id, lock_version, workflow)


def start_cases(ctx: AppContext, clock: BenchClock, times: list[datetime], serial: int) -> int:
    """One outbound case started at each of ``times``; returns the next serial."""
    rng = random.Random(serial)
    for when in times:
        clock.set(when)
        cases.start_case(
            ctx,
            CAMPAIGN,
            PROCESS,
            customer(rng, serial, when.date()),
            business_key=case_number(serial),
        )
        serial += 1
    return serial


def add_stub_timers(ctx: AppContext, count: int, far: datetime) -> None:
    """``count`` pending timers of stub cases (one each), due weeks after ``far``."""
    with ctx.db.begin() as conn:
        deployment_id = conn.execute(
            select(PROCESS_VERSION.c.deployment_id).where(PROCESS_VERSION.c.process_id == PROCESS)
        ).scalar_one()
        for start in range(0, count, 10_000):
            ids = [str(uuid.uuid4()) for _ in range(min(10_000, count - start))]
            conn.execute(
                insert(CASE),
                [
                    {
                        "id": case_id,
                        "business_key": None,
                        "idempotency_key": None,
                        "process_id": PROCESS,
                        "process_version": 1,
                        "deployment_id": deployment_id,
                        "channel": "outbound",
                        "status": "active",
                        "outcome": None,
                        "data": {},
                        "state": "{}",
                        "serializer_version": "stub",
                        "lock_version": 1,
                        "started_by": "bench-stub",
                        "starter_role": "telemarketing",
                        "audit_seq": 0,
                        "audit_hash": GENESIS,
                        "created_at": far,
                        "updated_at": far,
                        "ended_at": None,
                    }
                    for case_id in ids
                ],
            )
            conn.execute(
                insert(TIMER),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "case_id": case_id,
                        "element_id": "wait_before_retry",
                        "kind": "duration",
                        "due_at": far + timedelta(minutes=(start + i) * 7919 % 50_000),
                        "state": "pending",
                        "locked_by": None,
                        "locked_until": None,
                        "attempts": 0,
                    }
                    for i, case_id in enumerate(ids)
                ],
            )
        conn.execute(text("ANALYZE"))


def pending_timers(ctx: AppContext) -> int:
    with ctx.db.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(TIMER).where(TIMER.c.state == "pending")
            ).scalar_one()
        )


def fire_all(ctx: AppContext, name: str) -> tuple[int, int]:
    """Worker passes until one fires nothing: (timers fired, passes)."""
    fired = passes = 0
    while True:
        passes += 1
        n = worker.fire_timers_once(ctx, name)
        fired += n
        if n == 0:
            return fired, passes


def idle_poll_ms(ctx: AppContext, repeats: int = 200) -> float:
    """p50 of a worker pass that finds nothing due."""
    for _ in range(20):
        worker.fire_timers_once(ctx, "bench-idle")
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        assert worker.fire_timers_once(ctx, "bench-idle") == 0
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


@dataclass
class Bench:
    """One database: its context, clock and the next case serial."""

    ctx: AppContext
    clock: BenchClock
    serial: int = 1
    rounds: list[float] = field(default_factory=list)
    passes: int = 0
    worker_cpu: float = 0.0  # share of a core the worker thread used in the lateness run


def setup(url: str, pending: int, due: int) -> Bench:
    """Warm up (50 cases started and their timers fired), then bulk-insert far-future
    stub timers so that ``due`` more cases make ``pending`` pending timers in all."""
    clock = BenchClock(T0 - timedelta(hours=8))
    ctx = make_context(url, clock)
    ctx.live = CommitLog(ctx.settings.workflow_cache_size, clock)
    bench = Bench(ctx, clock)
    warmup = 50
    bench.serial = start_cases(ctx, clock, [clock.now()] * warmup, bench.serial)
    clock.advance(SLA + timedelta(minutes=1))
    ctx.live.clear()
    assert fire_all(ctx, "bench-warmup")[0] == warmup
    add_stub_timers(ctx, pending - due - pending_timers(ctx), T0 + timedelta(days=60))
    return bench


def firing_round(bench: Bench, at: datetime, due: int, pending: int) -> float:
    """Start ``due`` cases at ``at``; move past their SLA; seconds for the worker to fire
    them (cold workflow cache, as in a worker process of its own)."""
    ctx, clock = bench.ctx, bench.clock
    times = [at + timedelta(milliseconds=i) for i in range(due)]
    bench.serial = start_cases(ctx, clock, times, bench.serial)
    assert pending_timers(ctx) == pending, (pending_timers(ctx), pending)
    clock.set(times[-1] + SLA + timedelta(minutes=1))
    ctx.live.clear()
    started = time.perf_counter()
    fired, passes = fire_all(ctx, "bench-worker")
    elapsed = time.perf_counter() - started
    assert fired == due, (fired, due)
    bench.rounds.append(elapsed)
    bench.passes += passes
    return elapsed


def lateness(
    bench: Bench, args: argparse.Namespace, poll: float, start: datetime
) -> tuple[list[float], int, int]:
    """Due timers at ``args.rate``/s over ``args.seconds`` s from ``start`` + 1 s, fired by
    ``run_worker`` in a thread: (lateness samples in s, timers due, worker passes)."""
    count = round(args.rate * args.seconds)
    lead = timedelta(seconds=1)
    due_times = [start + lead + timedelta(seconds=i / args.rate) for i in range(count)]
    ctx, clock = bench.ctx, bench.clock
    bench.serial = start_cases(ctx, clock, [d - SLA for d in due_times], bench.serial)
    with ctx.db.connect() as conn:
        due = dict(
            conn.execute(
                select(TIMER.c.case_id, TIMER.c.due_at).where(
                    and_(
                        TIMER.c.state == "pending",
                        TIMER.c.due_at >= start,
                        TIMER.c.due_at <= due_times[-1],
                    )
                )
            ).all()
        )
    assert len(due) == count, (len(due), count)
    log = ctx.live
    assert isinstance(log, CommitLog)
    log.clear()  # a worker process has none of these cases in memory
    log.committed.clear()
    log.recording = True
    passes = 0
    real_fire = worker.fire_timers_once

    def counting(*a: Any, **kw: Any) -> int:
        nonlocal passes
        passes += 1
        return real_fire(*a, **kw)

    stop = threading.Event()
    worker.fire_timers_once = counting  # run_worker calls it
    clock.follow_real_time(start)
    cpu: list[float] = []

    def run() -> None:
        worker.run_worker(ctx, poll_seconds=poll, stop=stop)
        cpu.append(time.thread_time())

    thread = threading.Thread(target=run)
    real_start = time.perf_counter()
    thread.start()
    deadline = time.perf_counter() + lead.total_seconds() + args.seconds + 10
    try:
        while time.perf_counter() < deadline:
            if len(log.committed) >= count:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
        bench.worker_cpu = cpu[0] / (time.perf_counter() - real_start) if cpu else 0.0
        clock.freeze()
        log.recording = False
        worker.fire_timers_once = real_fire
    samples = [(log.committed[c] - d).total_seconds() for c, d in due.items() if c in log.committed]
    return samples, count, passes


def run_backend(label: str, make_db: Any, args: argparse.Namespace, sizes: list[int]) -> None:
    with ExitStack() as stack:
        benches: dict[int, Bench] = {}
        for size in sizes:
            benches[size] = setup(stack.enter_context(make_db()), size, args.due)
            stack.callback(benches[size].ctx.dispose)
        for r in range(args.rounds):  # interleaved, so drift hits every size alike
            for size in sizes if r % 2 == 0 else sizes[::-1]:
                firing_round(benches[size], T0 + timedelta(days=r), args.due, size)
        means = {size: statistics.mean(b.rounds) for size, b in benches.items()}
        for size, bench in benches.items():
            mean = means[size]
            rounds = " ".join(f"{e:.2f}" for e in bench.rounds)
            print(
                f"({label}) {size:>9,} pending, {args.due:,} due: fired in {mean:6.2f} s"
                f" = {args.due / mean:6.1f} timers/s ({mean / args.due * 1000:5.2f} ms each;"
                f" rounds {rounds} s; {bench.passes // args.rounds} passes)"
                f"   idle poll p50 {idle_poll_ms(bench.ctx):5.2f} ms",
                flush=True,
            )
        if len(sizes) >= 2:
            small, large = sizes[0], sizes[-1]
            print(
                f"({label}) firing time ratio {large:,} vs {small:,} pending: "
                f"{means[large] / means[small]:.2f}  (target: close to 1)",
                flush=True,
            )
        bench = benches[sizes[-1]]
        start = T0 + timedelta(days=args.rounds + 1)
        for poll in args.polls:
            samples, count, passes = lateness(bench, args, poll, start)
            start += timedelta(hours=6)
            pending = pending_timers(bench.ctx)
            report_lateness(label, args, poll, pending, samples, count, passes)
            print(
                f"({label})   worker thread on CPU {bench.worker_cpu:.0%} of the run;"
                f" machine load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
                flush=True,
            )


def report_lateness(
    label: str,
    args: argparse.Namespace,
    poll: float,
    pending: int,
    samples: list[float],
    count: int,
    passes: int,
) -> None:
    if not samples:
        print(f"({label}) lateness, poll {poll:g} s: nothing fired within the run")
        return
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    print(
        f"({label}) lateness at {args.rate:g} due/s over {args.seconds:g} s, poll {poll:g} s,"
        f" {pending:,} pending: p50 {p50 * 1000:5.0f} ms  p99 {p99 * 1000:5.0f} ms"
        f"  max {max(samples) * 1000:5.0f} ms  ({len(samples)}/{count} fired,"
        f" {passes} passes)  target p99 < 1 s: {'met' if p99 < 1 else 'MISSED'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--due", type=int, default=1000, help="due timers (real cases)")
    parser.add_argument("--pending", default="10000,100000", help="pending timers in all")
    parser.add_argument(
        "--rounds", type=int, default=2, help="firing rounds per size (interleaved)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="due timers per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="lateness run length")
    parser.add_argument(
        "--polls", default="1.0,0.1", help="worker poll intervals (s) for the lateness runs"
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.pending.split(",") if s)
    args.polls = [float(p) for p in args.polls.split(",") if p]
    if sizes[0] < args.due:
        parser.error("--pending sizes must be at least --due")
    for label, make_db in backends():
        run_backend(label, make_db, args, sizes)
    if len(backends()) == 1:
        print("(PostgreSQL: not run; set RETENTION_FLOW_BENCH_PG_URL)")


if __name__ == "__main__":
    main()
