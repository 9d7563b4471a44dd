"""Two operating-system processes completing one task at once: exactly one wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing")
SCRIPT = """
import json, sys
from retention_flow.core.config import Settings
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.tasks import work_items as tasks
from retention_flow.core.errors import RetentionFlowError
ctx = AppContext(Settings(database_url=sys.argv[1]))
who = Actor(sys.argv[3], frozenset({"agent", "telemarketing"}))
print("ready", flush=True)
sys.stdin.readline()  # start together
try:
    tasks.complete(ctx, who, sys.argv[2], {"call_result": "reached"})
    print(json.dumps({"ok": True}))
except RetentionFlowError as exc:
    print(json.dumps({"ok": False, "code": exc.code}))
"""


def test_two_processes_complete_one_task(ctx: AppContext, db_url: str) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {})
    task_id = case.open_tasks[0].id
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", SCRIPT, db_url, task_id, f"agent{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for i in range(2)
    ]
    for p in procs:  # both imported and connected: now release them together
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results: list[Any] = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["ok"] for r in results) == [False, True], results
    assert next(r["code"] for r in results if not r["ok"]) in {
        "task_not_ready",
        "task_already_claimed",
    }
    after = cases.get_case(ctx, case.id)
    assert [t.element_id for t in after.open_tasks] == ["present_offer"]
    with read_session(ctx.db) as session:
        assert [e.type for e in audit.history(session, case.id)].count("task_completed") == 1
        assert audit.verify(session).ok
