"""The worker fires due timers exactly once, also with several workers at once, and
re-runs the job of a worker that died."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import JOB, TIMER
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing", "team_lead")


def _start_many(ctx: AppContext, n: int) -> list[str]:
    deploy(ctx, "timers")
    return [cases.start_case(ctx, AGENT, "timers", {}).id for _ in range(n)]


def _events(ctx: AppContext, case_id: str, kind: str) -> int:
    with read_session(ctx.db) as session:
        return [e.type for e in audit.history(session, case_id)].count(kind)


def test_nothing_fires_before_its_time(ctx: AppContext, clock: Any) -> None:
    [case_id] = _start_many(ctx, 1)
    clock.advance(timedelta(hours=1, minutes=59))
    assert worker.fire_timers_once(ctx, "w1") == 0
    assert _events(ctx, case_id, "timer_fired") == 0


def test_two_workers_fire_each_timer_once(ctx: AppContext, clock: Any) -> None:
    ids = _start_many(ctx, 6)
    clock.advance(timedelta(hours=3))
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def run(name: str) -> None:
        barrier.wait()
        total = 0
        for _ in range(5):
            total += worker.fire_timers_once(ctx, name, limit=2)
        counts.append(total)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == len(ids), counts
    for case_id in ids:
        assert _events(ctx, case_id, "timer_fired") == 1
        open_tasks = cases.get_case(ctx, case_id).open_tasks
        assert [t.element_id for t in open_tasks] == ["handle_overdue"]
    with read_session(ctx.db) as session:
        assert audit.verify(session).ok


def test_a_dead_workers_lease_expires(ctx: AppContext, clock: Any) -> None:
    [case_id] = _start_many(ctx, 1)
    clock.advance(timedelta(hours=3))
    assert worker.lease_due_timers(ctx, "dead-worker") == [case_id]  # then it dies
    assert worker.fire_timers_once(ctx, "w2") == 0  # leased: not touched
    clock.advance(timedelta(minutes=3))  # the lease ran out
    assert worker.fire_timers_once(ctx, "w2") == 1
    assert worker.fire_timers_once(ctx, "w2") == 0
    assert _events(ctx, case_id, "timer_fired") == 1


def test_timers_of_a_cancelled_case_never_fire(ctx: AppContext, clock: Any) -> None:
    [case_id] = _start_many(ctx, 1)
    case_control.cancel_case(ctx, AGENT, case_id, "customer left")
    clock.advance(timedelta(hours=3))
    assert worker.fire_timers_once(ctx, "w1") == 0
    with read_session(ctx.db) as session:
        states = set(
            session.execute(select(TIMER.c.state).where(TIMER.c.case_id == case_id)).scalars()
        )
    assert "pending" not in states


def test_job_of_a_dead_worker_runs_again_once(ctx: AppContext, clock: Any) -> None:
    runs: list[dict[str, Any]] = []
    handlers = {"note": lambda _ctx, payload: runs.append(payload)}
    job_id = worker.enqueue(ctx, "note", {"n": 1})
    assert [j["id"] for j in worker.lease_jobs(ctx, "dead-worker")] == [job_id]  # dies here
    assert worker.run_jobs_once(ctx, "w2", handlers) == 0  # still leased
    clock.advance(timedelta(minutes=6))
    assert worker.run_jobs_once(ctx, "w2", handlers) == 1
    assert worker.run_jobs_once(ctx, "w2", handlers) == 0
    assert runs == [{"n": 1}]


def test_failing_job_backs_off_then_fails(ctx: AppContext, clock: Any) -> None:
    def boom(_ctx: AppContext, _payload: dict[str, Any]) -> None:
        raise RuntimeError("scanner offline")

    job_id = worker.enqueue(ctx, "ocr", {}, max_attempts=2)
    assert worker.run_jobs_once(ctx, "w", {"ocr": boom}) == 0
    assert worker.run_jobs_once(ctx, "w", {"ocr": boom}) == 0  # backing off: not due yet
    clock.advance(timedelta(seconds=11))
    worker.run_jobs_once(ctx, "w", {"ocr": boom})
    with read_session(ctx.db) as session:
        row = session.execute(select(JOB).where(JOB.c.id == job_id)).mappings().one()
    assert row["state"] == "failed" and "scanner offline" in row["last_error"]
    with write_session(ctx.db) as session:  # an operator re-queues it: it runs
        session.execute(update(JOB).where(JOB.c.id == job_id).values(state="queued", attempts=0))
        session.commit()
    assert worker.run_jobs_once(ctx, "w", {"ocr": lambda *_: None}) == 1


def test_idle_worker_wakes_for_the_next_timer(ctx: AppContext, clock: Any) -> None:
    assert worker.idle_wait(ctx, 1.0) == 1.0  # nothing pending
    _start_many(ctx, 1)  # a timer due in 2 h
    assert worker.idle_wait(ctx, 1.0) == 1.0
    clock.advance(timedelta(hours=2) - timedelta(milliseconds=300))
    assert 0.29 < worker.idle_wait(ctx, 1.0) < 0.31
    clock.advance(timedelta(seconds=1))
    assert worker.idle_wait(ctx, 1.0) == 0.005  # overdue: look again at once
