"""`retention-flow serve` fires timers with no separate worker: the served app runs the
worker in a background thread. Real time on purpose (a real server in a subprocess):
the test polls with a deadline, it never sleeps a fixed time for the timer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import PASSWORD
from tests.factories import OWNER, bundle_files

SRC = Path(__file__).resolve().parents[2] / "src"
DEADLINE = 40.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f} s: {what}")
        time.sleep(0.1)


@pytest.fixture
def serve(
    db_url: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[str, subprocess.Popen[str]]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[str, subprocess.Popen[str]]:
        port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "RETENTION_FLOW_DATABASE_URL": db_url,
            "RETENTION_FLOW_WORKER_POLL_SECONDS": "0.2",
            "RETENTION_FLOW_DEMO_PASSWORD": PASSWORD,
        }
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "retention_flow.cli", "serve", "--port", str(port), *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _until("the server answers /health", healthy)
        return base, process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _case_with_two_second_timer(ctx: AppContext, base: str) -> tuple[dict[str, str], str]:
    files = bundle_files("timers")
    files["timers.bpmn"] = files["timers.bpmn"].replace(b'"PT2H"', b'"PT2S"')
    processes.deploy(ctx, files, OWNER)
    users.add_user(ctx, "caller", PASSWORD, ["agent", "telemarketing"])
    token = httpx.post(
        f"{base}/api/auth/token", data={"username": "caller", "password": PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    started = httpx.post(f"{base}/api/cases", json={"process_id": "timers"}, headers=auth)
    assert started.status_code == 201, started.text
    case = started.json()
    assert [t["element_id"] for t in case["open_tasks"]] == ["call_customer"]
    return auth, case["id"]


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM: uvicorn shuts down (the lifespan stops the worker thread), then re-raises
    the signal, so the exit status is -15 after a clean shutdown."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) in (0, -signal.SIGTERM)
    output = process.stdout.read() if process.stdout else ""
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output


def _open_elements(base: str, auth: dict[str, str], case_id: str) -> list[str]:
    case = httpx.get(f"{base}/api/cases/{case_id}", headers=auth).json()
    return [t["element_id"] for t in case["open_tasks"]]


def test_serve_fires_a_timer_without_a_separate_worker(
    ctx: AppContext, serve: Callable[..., tuple[str, subprocess.Popen[str]]]
) -> None:
    base, process = serve()
    auth, case_id = _case_with_two_second_timer(ctx, base)
    began = time.monotonic()
    _until(
        "the 2-second boundary timer fires (call_customer -> handle_overdue)",
        lambda: _open_elements(base, auth, case_id) == ["handle_overdue"],
    )
    assert time.monotonic() - began >= 1.0  # it fired when due, not at once
    _stop(process)  # a clean shutdown stops the worker thread too


def test_no_worker_flag_serves_without_firing_timers(
    ctx: AppContext, serve: Callable[..., tuple[str, subprocess.Popen[str]]]
) -> None:
    base, process = serve("--no-worker")
    auth, case_id = _case_with_two_second_timer(ctx, base)
    from sqlalchemy import select

    from retention_flow.db.session import read_session
    from retention_flow.db.tables import TIMER

    with read_session(ctx.db) as session:
        due = session.execute(select(TIMER.c.due_at).where(TIMER.c.case_id == case_id)).scalar_one()
    due_ts = due.timestamp()
    _until("the timer is overdue", lambda: time.time() > due_ts + 1.5)
    assert _open_elements(base, auth, case_id) == ["call_customer"]  # nobody fired it
    _stop(process)
