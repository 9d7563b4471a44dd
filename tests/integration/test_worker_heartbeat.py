"""Worker leases are renewed by a heartbeat: a live worker keeps the timers it works on
past its lease, and the timers of a worker killed with SIGKILL are taken over within
one lease (10 s by default), not the two minutes a fixed lease cost.

The killed worker is a real ``run_worker`` in a subprocess, whose timer step blocks on
its second case (standing for a slow step), so it is killed while it holds leases; the
second worker is the ``retention-flow worker`` command. Time is real there (two
processes): the test polls with deadlines, it never sleeps a fixed time. In-process
parts use the injected clock."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from retention_flow.core.config import Settings
from retention_flow.db.session import read_session
from retention_flow.db.tables import TIMER
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform.leases import Leases
from tests.factories import actor, deploy
from tests.procs import child_env, until

AGENT = actor("alice", "agent", "telemarketing", "team_lead")
LEASE = 1.5  # seconds, for the subprocesses: the heartbeat beats every 0.5 s
STUCK_WORKER = """
import sys, threading
from retention_flow.core.config import Settings
from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform import worker
ctx = AppContext(Settings(database_url=sys.argv[1]))
real, seen = worker.fire_due_timers, []
def slow_step(ctx, case_id):
    seen.append(case_id)
    if len(seen) == 2:
        print("holding", flush=True)
        threading.Event().wait()  # a step that does not end: killed here
    return real(ctx, case_id)
worker.fire_due_timers = slow_step
worker.run_worker(ctx, poll_seconds=0.1)
"""


def _start_many(ctx: AppContext, n: int) -> list[str]:
    deploy(ctx, "timers")
    return [cases.start_case(ctx, AGENT, "timers", {}).id for _ in range(n)]


def _held(ctx: AppContext) -> list[Any]:
    with read_session(ctx.db) as session:
        return list(
            session.execute(
                select(TIMER.c.id, TIMER.c.locked_by, TIMER.c.locked_until).where(
                    and_(TIMER.c.state == "pending", TIMER.c.locked_by.is_not(None))
                )
            ).all()
        )


def _pending(ctx: AppContext) -> int:
    with read_session(ctx.db) as session:
        rows = session.execute(select(TIMER.c.id).where(TIMER.c.state == "pending")).all()
    return len(rows)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _env(db_url: str) -> dict[str, str]:
    return child_env(db_url, RETENTION_FLOW_WORKER_LEASE_SECONDS=str(LEASE))


def test_default_lease_hands_a_dead_workers_timers_over_within_15_seconds() -> None:
    settings = Settings()
    assert settings.worker_lease_seconds + settings.worker_poll_seconds <= 15


def test_killed_worker_timers_are_taken_over_within_its_lease(
    ctx: AppContext, clock: Any, db_url: str, tmp_path: Path
) -> None:
    ids = _start_many(ctx, 5)  # their 2-hour timers are long due in real time
    stuck = subprocess.Popen(  # noqa: S603 (our own code)
        [sys.executable, "-c", STUCK_WORKER, db_url],
        env=_env(db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    taker_log = tmp_path / "taker.log"
    try:
        assert stuck.stdout is not None
        assert stuck.stdout.readline().strip() == "holding", stuck.stderr.read()  # type: ignore[union-attr]
        held = _held(ctx)
        assert len(held) == 4  # the first case fired, four timers still leased
        first_until = max(_aware(r.locked_until) for r in held)
        assert first_until - datetime.now(UTC) <= timedelta(seconds=LEASE)
        # a second worker, the `retention-flow worker` command, polls meanwhile
        taker = subprocess.Popen(
            [sys.executable, "-m", "retention_flow.cli", "worker"],
            env=_env(db_url),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=taker_log.open("wb"),
        )
        until("the second worker runs", lambda: " started" in taker_log.read_text(), 90)
        # alive past its first lease: the heartbeat renewed, nobody else may take them
        until("the first lease runs out", lambda: datetime.now(UTC) > first_until, deadline=10)
        held_now = _held(ctx)
        assert min(_aware(r.locked_until) for r in held_now) > first_until
        assert _pending(ctx) == 4  # the second worker fired none of them
        clock.set(datetime.now(UTC))
        assert worker.fire_timers_once(ctx, "w3") == 0  # still held by a live worker
    finally:
        stuck.send_signal(signal.SIGKILL)
        stuck.wait(10)
    killed_at = datetime.now(UTC)
    try:
        expiry = max((_aware(r.locked_until) for r in _held(ctx)), default=killed_at)
        assert expiry - killed_at <= timedelta(seconds=LEASE)
        took = until("the second worker fires the four", lambda: _pending(ctx) == 0, 15)
    finally:
        taker.terminate()
        taker.wait(10)
    assert "Traceback" not in taker_log.read_text()
    assert took < 15
    with read_session(ctx.db) as session:
        for case_id in ids:
            fired = [e.type for e in audit.history(session, case_id)].count("timer_fired")
            assert fired == 1, case_id
        assert audit.verify(session).ok


def test_heartbeat_renews_only_what_the_worker_still_holds(ctx: AppContext, clock: Any) -> None:
    a, b = _start_many(ctx, 2)
    clock.advance(timedelta(hours=3))
    leases = Leases(ctx, "w1", seconds=10)
    assert sorted(worker.lease_due_timers(ctx, "w1", leases=leases)) == sorted([a, b])
    leases.release_case(a)  # done with a (its step failed, say): no longer renewed
    clock.advance(timedelta(seconds=8))
    assert leases.renew() == 1
    clock.advance(timedelta(seconds=5))  # a's lease ran out, b's was renewed
    assert worker.fire_timers_once(ctx, "w2") == 1
    assert [t.element_id for t in cases.get_case(ctx, a).open_tasks] == ["handle_overdue"]
    assert [t.element_id for t in cases.get_case(ctx, b).open_tasks] == ["call_customer"]


def test_a_running_jobs_lease_is_renewed_until_it_finishes(ctx: AppContext, clock: Any) -> None:
    leases = Leases(ctx, "w1", seconds=10)
    seen: list[int] = []

    def slow(_ctx: AppContext, payload: dict[str, Any]) -> None:
        clock.advance(timedelta(seconds=8))
        assert leases.renew() == 1  # the heartbeat, while the job runs
        clock.advance(timedelta(seconds=8))  # past the first lease
        assert worker.lease_jobs(ctx, "w2") == []  # held: nobody else runs it
        seen.append(payload["n"])

    worker.enqueue(ctx, "slow", {"n": 1})
    assert worker.run_jobs_once(ctx, "w1", {"slow": slow}, leases=leases) == 1
    assert leases.held() == ([], [])
    assert seen == [1]
