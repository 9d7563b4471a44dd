"""``retention-flow skills ...`` and ``retention-flow routing offers`` run as a team lead
runs them (a subprocess on the test's database; each start costs seconds, so one
command of each; refusals are tested through the API)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from retention_flow.services.platform.context import AppContext


def _cli(ctx: AppContext, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETENTION_FLOW_DATABASE_URL": ctx.settings.database_url}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention_flow.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_lead_keeps_skills_on_the_command_line(rctx: AppContext) -> None:
    lead = ("--user", "lead", "--role", "team_lead")
    given = _ok(_cli(rctx, "skills", "set", "tom", "language", "tr", "--proficiency", "4", *lead))
    assert (given["username"], given["kind"], given["value"], given["proficiency"]) == (
        "tom",
        "language",
        "tr",
        4,
    )
    listed = _ok(_cli(rctx, "skills", "list", "tom", *lead))
    assert [(s["kind"], s["value"], s["updated_by"]) for s in listed] == [
        ("language", "tr", "lead")
    ]
    offers = _ok(_cli(rctx, "routing", "offers", *lead))
    assert offers == {"data": [], "count": 0, "by_agent": []}
