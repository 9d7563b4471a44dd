"""The heatmap rollup against the audit trail: the figures read through the rollup equal
the ones read event by event (counts exactly; waits within the stated tolerance), before
the rollup ran, after it, and with events on both sides of the watermark; rolling up is
idempotent and an incremental rollup equals a rebuild.

The fixture is the known answer of tests/api/test_heatmap.py (three cases of
``three_steps`` v1, one failing v2 case), continued past the watermark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.db.types import UTCDateTime
from retention_flow.engine.diagram import diagram_shape
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.insight import heatmap, heatmap_rollup
from retention_flow.services.insight.heatmap_marks import WAIT_TOLERANCE
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.api.test_heatmap import AGENT, _fixture

COUNTS = ("cases", "times", "entered", "waits", "sla_breaches", "escalations", "incidents")


def _raw(ctx: AppContext, version: int, start: datetime, end: datetime) -> dict[str, Any]:
    """The figures read from the events alone (the exact path)."""
    with read_session(ctx.db) as session:
        pv = processes.get_version(session, "three_steps", version)
        flows = diagram_shape(pv.file_name, processes.version_xml(ctx, "three_steps", version))[1]
        dialect = session.get_bind().dialect.name
        params = {"p": "three_steps", "v": version, "start": start, "end": end}
        found = heatmap._raw(session, dialect, params, min(end, ctx.now()), flows)
    return {
        "total": found.total,
        "passed": found.passed,
        "counts": found.counts,
        "waits": found.waits,
        "breaches": found.breaches,
        "taken": found.taken,
    }


def _check(ctx: AppContext, version: int, start: datetime, end: datetime) -> str:
    """The API's figures equal the raw ones; returns the source the API used."""
    got = heatmap.heatmap(ctx, "three_steps", version, start, end)
    want = _raw(ctx, version, start, end)
    assert got["cases"] == want["total"], (start, end)
    for e in got["elements"]:
        key = e["element_id"]
        times, passed = want["passed"].get(key, (0, 0))
        entered, escalations, incidents = want["counts"].get(key, (0, 0, 0))
        waits, p50, p95 = want["waits"].get(key, (0, None, None))
        expected = {
            "cases": passed,
            "times": times,
            "entered": entered,
            "waits": waits,
            "sla_breaches": want["breaches"].get(key, 0),
            "escalations": escalations,
            "incidents": incidents,
        }
        assert {k: e[k] for k in COUNTS} == expected, (key, start, end)
        for name, exact in (("wait_p50_seconds", p50), ("wait_p95_seconds", p95)):
            if exact is None:
                assert e[name] is None
            elif got["source"] == "events":
                assert e[name] == exact
            else:
                assert abs(e[name] - exact) <= WAIT_TOLERANCE * exact + 0.001, (key, name)
    assert {f["flow_id"]: f["cases"] for f in got["flows"]} == want["taken"], (start, end)
    return str(got["source"])


def _periods(t0: datetime) -> list[tuple[datetime, datetime]]:
    """Whole days, hour-aligned edges, edges inside hours (cutting cases), a period
    under an hour, and periods that start or end between two events of a case."""
    day = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        (day - timedelta(days=1), day + timedelta(days=3)),
        (t0 - timedelta(minutes=7), t0 + timedelta(days=2)),
        (t0 + timedelta(minutes=45), t0 + timedelta(hours=5, minutes=40)),
        (t0 + timedelta(hours=1, minutes=10), t0 + timedelta(hours=12, minutes=5)),
        (t0 + timedelta(hours=2), t0 + timedelta(hours=3)),
        (t0 + timedelta(minutes=20), t0 + timedelta(minutes=50)),
        (t0 + timedelta(hours=3), t0 + timedelta(days=1)),
        (t0 + timedelta(hours=5, minutes=30), t0 + timedelta(days=1, hours=6, minutes=1)),
    ]


def _check_all(ctx: AppContext, t0: datetime) -> set[str]:
    return {_check(ctx, v, s, e) for v in (1, 2) for s, e in _periods(t0)}


def _rollup(ctx: AppContext) -> list[tuple[Any, ...]]:
    with read_session(ctx.db) as session:
        rows = session.execute(text("SELECT * FROM heatmap_rollup WHERE n <> 0"))
        return sorted(tuple(r) for r in rows)


def _more_steps(ctx: AppContext, clock: FrozenClock, ids: tuple[str, str, str]) -> None:
    """After the watermark: C's call done (late), its offer left open past its due
    time, and a new case whose call is done on time."""
    c_call = cases.get_case(ctx, ids[2]).open_tasks[0].id
    offer = tasks.complete(ctx, AGENT, c_call, {"call_result": "reached"}).next_tasks[0]
    d = cases.start_case(ctx, AGENT, "three_steps", {}, version=1)
    clock.advance(timedelta(minutes=50))
    tasks.complete(ctx, AGENT, d.open_tasks[0].id, {"call_result": "reached"})
    clock.advance(timedelta(hours=6))  # C's offer: open past its 4 h
    assert offer.id


def test_rollup_equals_the_audit_trail(ctx: AppContext, clock: FrozenClock) -> None:
    fx = _fixture(ctx, clock)
    t0 = fx["t0"]
    assert _check_all(ctx, t0) == {"events"}  # no rollup yet: read event by event

    assert heatmap_rollup.catch_up(ctx) > 0
    assert _check_all(ctx, t0) == {"rollup", "events"}  # "events": the period under an hour
    rolled = _rollup(ctx)
    assert rolled and heatmap_rollup.catch_up(ctx) == 0 and _rollup(ctx) == rolled

    _more_steps(ctx, clock, fx["ids"])  # events after the watermark: read through x
    assert _check_all(ctx, t0) == {"rollup", "events"}
    assert heatmap_rollup.roll_up_once(ctx, batch=3) == 3  # a part of them
    assert _check_all(ctx, t0) == {"rollup", "events"}
    heatmap_rollup.catch_up(ctx, batch=4)
    assert _check_all(ctx, t0) == {"rollup", "events"}
    incremental = _rollup(ctx)
    assert incremental != rolled

    # a rebuild counts the same as the batches did, and again the same
    first = heatmap_rollup.rebuild(ctx)
    assert _rollup(ctx) == incremental
    assert heatmap_rollup.rebuild(ctx, chunk=2) == first and _rollup(ctx) == incremental


def test_concurrent_workers_count_once(ctx: AppContext, clock: FrozenClock) -> None:
    """Two workers rolling up the same new events at once: each event counted once
    (the watermark row is held by one batch at a time)."""
    fx = _fixture(ctx, clock)
    heatmap_rollup.catch_up(ctx)
    _more_steps(ctx, clock, fx["ids"])
    with ThreadPoolExecutor(2) as pool:
        taken = list(pool.map(lambda _: heatmap_rollup.catch_up(ctx, batch=2), range(2)))
    together = _rollup(ctx)
    heatmap_rollup.rebuild(ctx)
    assert sum(taken) > 0 and together == _rollup(ctx)
    assert _check_all(ctx, fx["t0"]) == {"rollup", "events"}


@pytest.mark.postgresql_only  # SQLite: the writer lock at BEGIN serialises batches instead
def test_a_worker_skips_while_the_watermark_is_held(ctx: AppContext, clock: FrozenClock) -> None:
    """PostgreSQL: a worker's batch does not wait behind a rebuild holding the watermark
    row (its timers would stall); it takes the events on a later pass."""
    assert ctx.db.dialect.name == "postgresql"
    fx = _fixture(ctx, clock)
    heatmap_rollup.catch_up(ctx)  # the row exists
    _more_steps(ctx, clock, fx["ids"])
    with ctx.db.connect() as holder:
        holder.execute(text("SELECT 1 FROM heatmap_watermark FOR UPDATE"))
        assert heatmap_rollup.roll_up_once(ctx, wait=False) == 0
        holder.rollback()
    assert heatmap_rollup.roll_up_once(ctx, wait=False) > 0


def test_known_answer_through_the_rollup(ctx: AppContext, clock: FrozenClock) -> None:
    """The hand-made figures of tests/api/test_heatmap.py, read through the rollup."""
    t0 = _fixture(ctx, clock)["t0"]
    heatmap_rollup.catch_up(ctx)
    body = heatmap.heatmap(ctx, "three_steps", 1, t0, t0 + timedelta(days=1))
    assert body["source"] == "rollup" and body["cases"] == 3
    e = {x["element_id"]: x for x in body["elements"]}
    call, offer = e["call_customer"], e["present_offer"]
    assert (call["cases"], call["entered"], call["waits"], call["sla_breaches"]) == (2, 3, 2, 1)
    assert (offer["cases"], offer["sla_breaches"], e["confirm_change"]["sla_breaches"]) == (2, 1, 1)
    assert e["prepare_case"]["cases"] == 3 and e["end_retained"]["cases"] == 1
    for got, exact in ((call["wait_p50_seconds"], 1800.0), (offer["wait_p95_seconds"], 18000.0)):
        assert got != exact and abs(got - exact) <= WAIT_TOLERANCE * exact
    flows = {f["flow_id"]: f["cases"] for f in body["flows"]}
    assert (flows["flow_prepared"], flows["flow_called"], flows["flow_accepted"]) == (3, 2, 1)


def test_the_worker_rolls_up(ctx: AppContext, clock: FrozenClock) -> None:
    """The worker loop rolls the audit trail up on its first pass, and not with
    ``heatmap_rollup_seconds`` 0."""
    from retention_flow.services.platform.worker import run_worker

    t0 = _fixture(ctx, clock)["t0"]
    period = (t0, t0 + timedelta(days=1))
    ctx.settings = ctx.settings.model_copy(update={"heatmap_rollup_seconds": 0})
    run_worker(ctx, handlers={}, poll_seconds=0.001, max_passes=1)
    assert heatmap.heatmap(ctx, "three_steps", 1, *period)["source"] == "events"
    ctx.settings = ctx.settings.model_copy(update={"heatmap_rollup_seconds": 60})
    run_worker(ctx, handlers={}, poll_seconds=0.001, max_passes=1)
    assert heatmap.heatmap(ctx, "three_steps", 1, *period)["source"] == "rollup"
    assert heatmap_rollup.catch_up(ctx) == 0  # nothing left behind


def test_rollup_batch_must_be_positive(ctx: AppContext) -> None:
    from retention_flow.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        heatmap_rollup.roll_up_once(ctx, batch=0)
    with pytest.raises(ValidationFailed):
        heatmap_rollup.rebuild(ctx, chunk=0)


def test_the_commands(ctx: AppContext, clock: FrozenClock) -> None:
    """``retention-flow heatmap rebuild`` and ``catch-up`` on the test's database (a
    subprocess: one run of each)."""
    _fixture(ctx, clock)
    env = {**os.environ, "RETENTION_FLOW_DATABASE_URL": ctx.settings.database_url}

    def cli(*args: str) -> Any:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "retention_flow.cli", "heatmap", *args],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    built = cli("rebuild")
    assert built["watermark"] > 0 and built["rows"] == len(_rollup(ctx))
    assert cli("catch-up", "--batch", "10") == {"events": 0}


def test_edges_inside_hours_equal_the_audit_trail(ctx: AppContext, clock: FrozenClock) -> None:
    """Periods whose start and end fall at many points inside hours (before, between and
    after a case's events), with and without events after the watermark: the counts of
    the rollup read equal the raw read's."""
    fx = _fixture(ctx, clock)
    t0 = fx["t0"]
    heatmap_rollup.catch_up(ctx)
    starts = [t0 - timedelta(minutes=50) + timedelta(minutes=35) * k for k in range(8)]
    lengths = [timedelta(hours=2, minutes=10), timedelta(hours=5, minutes=17), timedelta(days=1)]
    periods = [(s, s + n) for s in starts for n in lengths]
    assert {_check(ctx, v, s, e) for v in (1, 2) for s, e in periods} == {"rollup"}
    _more_steps(ctx, clock, fx["ids"])
    assert {_check(ctx, v, s, e) for v in (1, 2) for s, e in periods} == {"rollup"}


_HELD = """INSERT INTO audit_event (stream, seq, case_id, type, actor, at, element_id,
  prev_hash, hash) VALUES (:c, 100000, :c, 'task_escalated', 'test', :at, 'call_customer',
  'x', 'x') RETURNING id"""


@pytest.mark.postgresql_only  # SQLite: one writer at a time, the watermark cannot pass one
def test_the_watermark_waits_for_an_open_writer_without_blocking_writers(
    ctx: AppContext, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a step-like transaction has inserted an audit event and is still open.
    A batch does not move the watermark past it (it waits, then gives up), while other
    steps write and commit audit events meanwhile without waiting for the batch; once the
    transaction commits, its event is counted exactly once."""
    from retention_flow.services.insight import heatmap_safe

    monkeypatch.setattr(heatmap_safe, "SETTLE_SECONDS", 3.0)
    fx = _fixture(ctx, clock)
    heatmap_rollup.catch_up(ctx)
    stmt = text(_HELD).bindparams(bindparam("at", type_=UTCDateTime))
    with ctx.db.connect() as holder:
        held = holder.execute(stmt, {"c": fx["ids"][2], "at": clock.now()}).scalar_one()
        _more_steps(ctx, clock, fx["ids"])  # committed after it, with higher ids
        with ThreadPoolExecutor(1) as pool:
            rolling = pool.submit(heatmap_rollup.roll_up_once, ctx)
            time.sleep(0.5)  # the batch is waiting for the holder now
            began = time.monotonic()
            cases.start_case(ctx, AGENT, "three_steps", {}, version=1)  # a step meanwhile
            took = time.monotonic() - began
            assert not rolling.done(), "the step waited for the batch"
            with ctx.db.connect() as probe:
                waiting = probe.execute(text("SELECT COUNT(*) FROM pg_locks WHERE NOT granted"))
                assert waiting.scalar_one() == 0
            assert rolling.result() == 0  # the batch gave up: the held event is still open
        assert _watermark(ctx) < held and took < 2.5
        holder.commit()
    assert heatmap_rollup.catch_up(ctx) > 0
    with read_session(ctx.db) as session:
        top = session.execute(text("SELECT MAX(id) FROM audit_event")).scalar_one()
    assert _watermark(ctx) == top > held
    incremental = _rollup(ctx)
    heatmap_rollup.rebuild(ctx)
    assert _rollup(ctx) == incremental  # the held event counted once, like a rebuild does
    assert _check_all(ctx, fx["t0"]) == {"rollup", "events"}


def _watermark(ctx: AppContext) -> int:
    with read_session(ctx.db) as session:
        sql = text("SELECT last_event_id FROM heatmap_watermark")
        return int(session.execute(sql).scalar_one())
