"""The worker thread of the serving process (``services.background``): two of them (two
serving processes) on one database fire each due timer once, and stop when asked. The
test clock is frozen; the threads run in real time, so the test waits with a deadline."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.background import BackgroundWorker
from retention_flow.services.platform.context import AppContext
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing")


def _fired(ctx: AppContext, case_id: str) -> int:
    with read_session(ctx.db) as session:
        return [e.type for e in audit.history(session, case_id)].count("timer_fired")


def test_two_serving_processes_fire_each_timer_once(ctx: AppContext, clock: Any) -> None:
    deploy(ctx, "timers")
    ids = [cases.start_case(ctx, AGENT, "timers", {}).id for _ in range(8)]
    clock.advance(timedelta(hours=3))  # every call_overdue timer is due
    workers = [BackgroundWorker(ctx, poll_seconds=0.05) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 60
        while not all(_fired(ctx, case_id) for case_id in ids):
            assert time.monotonic() < deadline, "the worker threads did not fire the timers"
            time.sleep(0.05)
        assert all(w.running for w in workers)
    finally:
        for w in workers:
            w.stop(timeout=30)
    assert not any(w.running for w in workers)
    assert [_fired(ctx, case_id) for case_id in ids] == [1] * len(ids)
    for case_id in ids:
        tasks = cases.get_case(ctx, case_id).open_tasks
        assert [t.element_id for t in tasks] == ["handle_overdue"]
