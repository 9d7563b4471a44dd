"""``retention-flow up``: two serving processes on one port, a worker process, a case
driven end to end over HTTP, a serving process killed with SIGKILL and started again by
the supervisor, and a clean stop. Real time (real processes): the test polls with
deadlines, it never sleeps a fixed time."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import PASSWORD
from tests.factories import OWNER, bundle_files
from tests.procs import deployment, until

FORMS = {
    "call_customer": {"call_result": "reached"},
    "present_offer": {"offer_response": "accepted"},
    "confirm_change": {"confirmation_channel": "sms"},
}


def _work_case(base: str, auth: dict[str, str], number: int) -> str:
    with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
        started = http.post(
            "/api/cases",
            json={"process_id": "three_steps", "data": {"customer_id": f"C-{number}"}},
        )
        assert started.status_code == 201, started.text
        case = started.json()
        while case["open_tasks"]:
            task = case["open_tasks"][0]
            assert http.post(f"/api/tasks/{task['id']}/claim").status_code == 200
            done = http.post(
                f"/api/tasks/{task['id']}/complete", json={"data": FORMS[task["element_id"]]}
            )
            assert done.status_code == 200, done.text
            case = http.get(f"/api/cases/{case['id']}").json()
        assert case["status"] == "completed"
        return str(case["id"])


def test_up_serves_cases_over_several_processes(
    ctx: AppContext, db_url: str, tmp_path: Path
) -> None:
    processes.deploy(ctx, bundle_files("three_steps"), OWNER)
    timers = bundle_files("timers")
    timers["timers.bpmn"] = timers["timers.bpmn"].replace(b'"PT2H"', b'"PT2S"')
    processes.deploy(ctx, timers, OWNER)
    users.add_user(ctx, "caller", PASSWORD, ["agent", "telemarketing"])
    with deployment(db_url, tmp_path, "--api", "2", "--workers", "1") as (up, events, port):
        assert sorted(events.wait("up")["pids"]) == ["api0", "api1", "worker0"]
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        until("the API answers", healthy, 90)
        token = httpx.post(
            f"{base}/api/auth/token", data={"username": "caller", "password": PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        _work_case(base, auth, 1)
        timed = httpx.post(f"{base}/api/cases", json={"process_id": "timers"}, headers=auth)
        assert timed.status_code == 201, timed.text

        def overdue() -> bool:
            case = httpx.get(f"{base}/api/cases/{timed.json()['id']}", headers=auth).json()
            return [t["element_id"] for t in case["open_tasks"]] == ["handle_overdue"]

        until("the worker process fires the 2-second timer", overdue, 60)

        assert events.find("exited") is None, events.seen  # nothing died on its own
        mark = len(events.seen)
        os.kill(events.pid("api", 0), signal.SIGKILL)
        exited = events.wait("exited", mark)
        assert (exited["role"], exited["code"]) == ("api", -signal.SIGKILL)
        again = events.wait("started", mark)
        assert (again["role"], again["index"], again["restarts"]) == ("api", 0, 1)
        for number in (2, 3):  # the case work goes on meanwhile, on the process left
            _work_case(base, auth, number)
        up.send_signal(signal.SIGTERM)
        events.wait("down", mark)
        assert up.wait(60) == 0
    until("the API is gone", lambda: not healthy(), 10)
    with read_session(ctx.db) as session:
        assert audit.verify(session).ok
