"""A campaign batch starts exactly its size, whatever moment its worker dies: a run after
a death only tops the batch up. In process (a death after k starts), and as a real
``retention-flow worker`` killed with SIGKILL at random moments and restarted until the
job is done (file SQLite by default, PostgreSQL with RETENTION_FLOW_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CAMPAIGN_START, CASE, CUSTOMER, JOB
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import control as case_control
from retention_flow.services.outreach import campaigns
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from tests.factories import OWNER

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
LEAD = Actor("lena", frozenset({"team_lead", "agent"}))


@pytest.fixture
def ctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


def _customers(ctx: AppContext, at_risk: int) -> None:
    """``at_risk`` high-risk customers (and a few low-risk ones no batch may take)."""
    rows = [
        {
            "id": f"C{n:05d}",
            "name": f"Customer {n}",
            "product": "mobile_m",
            "region": "north",
            "tenure_months": 12 + n % 50,
            "contract_age_months": 10 + n % 30,
            "contract_end": date(2026, 2, 1 + n % 28),
            "monthly_revenue_cents": 3000,
            "churn_risk": "high" if n < at_risk else "low",
            "created_at": ctx.now(),
        }
        for n in range(at_risk + 5)
    ]
    with write_session(ctx.db) as session:
        session.execute(insert(CUSTOMER), rows)
        session.commit()


def _payload(batch: str, size: int) -> dict[str, Any]:
    return {
        "batch": batch,
        "campaign": "winter",
        "day": "2026-01-05",
        "batch_size": size,
        "min_churn_risk": "high",
    }


def _started(ctx: AppContext, batch: str) -> list[dict[str, Any]]:
    """The batch's start rows joined to their cases (a row without its case is lost)."""
    query = select(CAMPAIGN_START, CASE.c.data, CASE.c.process_id).join(
        CASE, CASE.c.id == CAMPAIGN_START.c.case_id
    )
    with read_session(ctx.db) as session:
        rows = session.execute(query.where(CAMPAIGN_START.c.batch_id == batch)).mappings()
        return [dict(r) for r in rows]


def _campaign_cases(ctx: AppContext) -> list[str]:
    """The customer of every case the campaign process started (from the case rows)."""
    query = select(CASE.c.data).where(CASE.c.process_id == campaigns.CAMPAIGN_PROCESS)
    with read_session(ctx.db) as session:
        return [data["customer_id"] for data in session.execute(query).scalars()]


def _assert_exactly(ctx: AppContext, batch: str, size: int) -> None:
    customers = _campaign_cases(ctx)
    assert len(customers) == size, f"{len(customers)} cases for a batch of {size}"
    assert len(set(customers)) == size, "a customer was started twice"
    rows = _started(ctx, batch)
    assert sorted(r["slot"] for r in rows) == list(range(size))
    assert sorted(r["customer_id"] for r in rows) == sorted(customers)
    assert all(r["data"]["customer_id"] == r["customer_id"] for r in rows)


class WorkerDied(BaseException):
    """Stands for the process ending between two starts (not an error a job would catch)."""


@pytest.mark.parametrize("dies_after", [0, 1, 7])
def test_a_rerun_after_a_death_only_tops_up(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, dies_after: int
) -> None:
    _customers(ctx, at_risk=30)
    real = campaigns._start_in_slot
    calls = 0

    def dying(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > dies_after:
            raise WorkerDied
        real(*args)

    monkeypatch.setattr(campaigns, "_start_in_slot", dying)
    with pytest.raises(WorkerDied):
        campaigns.run_campaign_batch(ctx, _payload("b-1", 10))
    assert len(_campaign_cases(ctx)) == dies_after
    monkeypatch.setattr(campaigns, "_start_in_slot", real)
    # a started case that ended meanwhile: its customer has no open case, yet the same
    # batch does not start them again
    if dies_after:
        first = _started(ctx, "b-1")[0]["case_id"]
        case_control.cancel_case(ctx, LEAD, first, "customer moved away")
    campaigns.run_campaign_batch(ctx, _payload("b-1", 10))
    _assert_exactly(ctx, "b-1", 10)
    campaigns.run_campaign_batch(ctx, _payload("b-1", 10))  # a third run starts nobody
    _assert_exactly(ctx, "b-1", 10)


def test_a_batch_larger_than_the_customers_at_risk_starts_them_all_once(
    ctx: AppContext,
) -> None:
    _customers(ctx, at_risk=4)
    campaigns.run_campaign_batch(ctx, _payload("b-2", 10))
    campaigns.run_campaign_batch(ctx, _payload("b-2", 10))
    customers = _campaign_cases(ctx)
    assert len(customers) == 4 and len(set(customers)) == 4


def test_two_runs_of_one_batch_at_once_start_it_exactly(ctx: AppContext) -> None:
    """A lease that ran out on a slow worker: two runs of one batch overlap. Both pick
    the same slots and customers; the loser of each collision rolls its start back."""
    _customers(ctx, at_risk=40)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(30)
            campaigns.run_campaign_batch(ctx, _payload("b-3", 12))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    _assert_exactly(ctx, "b-3", 12)


def _job_state(ctx: AppContext, job_id: str) -> str:
    with read_session(ctx.db) as session:
        return str(session.execute(select(JOB.c.state).where(JOB.c.id == job_id)).scalar_one())


def _count(ctx: AppContext) -> int:
    """Cases the campaign started so far (counted on the case rows, the effect itself)."""
    query = select(func.count()).select_from(CASE)
    with read_session(ctx.db) as session:
        where = CASE.c.process_id == campaigns.CAMPAIGN_PROCESS
        return int(session.execute(query.where(where)).scalar_one())


def _spawn(db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": db_url,
        "RETENTION_FLOW_WORKER_LEASE_SECONDS": "0.3",  # a dead worker's job is free at once
        "RETENTION_FLOW_WORKER_POLL_SECONDS": "0.05",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "retention_flow.cli", "worker"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _wait(condition: Any, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; worker log:\n{log.read_text()[-3000:]}")
        time.sleep(0.005)  # polling the database, not waiting for a timer


def test_sigkilled_worker_restarted_until_done_starts_the_batch_exactly(
    ctx: AppContext, db_url: str, tmp_path: Path
) -> None:
    # Room enough that three kills land before the end: each kill aims at most 5 starts
    # further and stays in the first half, and a worker may run on for up to 40 ms (a
    # handful of starts) before the kill reaches it. A batch of 30 aimed up to 29 and
    # once finished before the last kill (seed 334418).
    size = 60
    _customers(ctx, at_risk=3 * size)
    job_id = worker.enqueue(ctx, "campaign_batch", _payload("b-kill", size))
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    log = tmp_path / "worker.log"
    kills: list[int] = []
    for _kill in range(3):
        target = min(size // 2, _count(ctx) + rng.randint(1, 5))
        proc = _spawn(db_url, log)
        try:
            _wait(lambda t=target: _count(ctx) >= t, 120, proc, log)
            time.sleep(rng.uniform(0, 0.04))  # a random moment: between or inside starts
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        kills.append(_count(ctx))
    assert kills[-1] < size, f"the batch finished before the last kill (seed {seed})"
    proc = _spawn(db_url, log)
    try:
        _wait(lambda: _job_state(ctx, job_id) == "done", 120, proc, log)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    print(f"seed {seed}: killed after {kills} starts")
    _assert_exactly(ctx, "b-kill", size)
