"""``verify-audit`` as a run: streamed page by page, interrupted and resumed from its
progress file, started over with --from-start, with a progress line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from retention_flow.cli import app
from retention_flow.cli_progress import ProgressLine
from retention_flow.core.config import get_settings
from retention_flow.core.errors import Conflict
from retention_flow.db.session import read_session
from retention_flow.services.audit import verify_run as audit_verify_run
from retention_flow.services.audit.verify import verify
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing")
CASES = 6


class Interrupt(Exception):
    """What the test's progress callback raises to stop a run (as Ctrl-C would)."""


def _cases(ctx: AppContext) -> list[str]:
    """Case streams in the order a run walks them (by name; ``system`` sorts after)."""
    deploy(ctx, "three_steps")
    ids = [
        str(cases.start_case(ctx, AGENT, "three_steps", {"customer_id": f"C-{n}"}).id)
        for n in range(CASES)
    ]
    return sorted(ids)


def _stop_after(streams: int) -> Any:
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) > streams:  # the first call is the start (0 done)
            raise Interrupt

    return progress


def _tamper(ctx: AppContext, stream: str, seq: int = 1) -> None:
    with ctx.db.begin() as conn:
        conn.execute(
            text("UPDATE audit_event SET actor = 'mallory' WHERE stream = :s AND seq = :q"),
            {"s": stream, "q": seq},
        )


def _interrupted(ctx: AppContext, state: Path, streams: int) -> dict[str, Any]:
    with pytest.raises(Interrupt):
        audit_verify_run.verify_all(
            ctx, state_file=state, on_progress=_stop_after(streams), batch=2, save_every=3600
        )
    saved: dict[str, Any] = json.loads(state.read_text())
    return saved


def test_interrupted_run_resumes_and_finds_a_tamper_after_its_position(
    ctx: AppContext, tmp_path: Path
) -> None:
    ids = _cases(ctx)
    state = tmp_path / "progress.json"
    saved = _interrupted(ctx, state, 3)
    assert saved["after"] == ids[2] and saved["streams"] == 3 and saved["problem_count"] == 0
    _tamper(ctx, ids[4], 2)
    result = audit_verify_run.verify_all(ctx, state_file=state, batch=2)
    resumed = {"started_at": saved["started_at"], "events_before": saved["events"]}
    assert result["resumed"] == resumed
    assert not result["ok"] and result["kind"] == "altered"
    assert (result["broken_stream"], result["broken_seq"]) == (ids[4], 2)
    assert result["events"] == result["events_in_trail"]  # the counts carry over
    assert result["streams"] == CASES + 1  # the cases and ``system``
    assert not state.exists()  # a run that ends leaves no position behind


def test_tamper_before_the_position_needs_a_run_from_the_start(
    ctx: AppContext, tmp_path: Path
) -> None:
    ids = _cases(ctx)
    state = tmp_path / "progress.json"
    _interrupted(ctx, state, 3)
    _tamper(ctx, ids[0])
    resumed = audit_verify_run.verify_all(ctx, state_file=state, batch=2)
    assert resumed["ok"] and resumed["resumed"] is not None  # verified before the edit
    _interrupted(ctx, state, 3)
    again = audit_verify_run.verify_all(ctx, state_file=state, resume=False, batch=2)
    assert again["resumed"] is None and not again["ok"]
    assert (again["broken_stream"], again["broken_seq"], again["kind"]) == (ids[0], 1, "altered")


def test_findings_before_the_interruption_are_kept(ctx: AppContext, tmp_path: Path) -> None:
    ids = _cases(ctx)
    _tamper(ctx, ids[1])
    state = tmp_path / "progress.json"
    saved = _interrupted(ctx, state, 3)
    assert saved["problem_count"] == 1 and saved["problems"][0]["stream"] == ids[1]
    result = audit_verify_run.verify_all(ctx, state_file=state, batch=2)
    assert not result["ok"] and result["broken_stream"] == ids[1] and result["problem_count"] == 1


def test_progress_file_of_another_database_is_refused(ctx: AppContext, tmp_path: Path) -> None:
    _cases(ctx)
    state = tmp_path / "progress.json"
    saved = _interrupted(ctx, state, 2)
    state.write_text(json.dumps({**saved, "database": "sqlite:///elsewhere.db"}))
    with pytest.raises(Conflict, match="--from-start"):
        audit_verify_run.verify_all(ctx, state_file=state)
    assert audit_verify_run.verify_all(ctx, state_file=state, resume=False)["ok"]


def test_progress_reaches_the_total(ctx: AppContext) -> None:
    _cases(ctx)
    calls: list[tuple[int, int]] = []
    result = audit_verify_run.verify_all(ctx, on_progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, result["events_in_trail"])
    assert calls[-1] == (result["events"], result["events"])
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert result["events_per_second"] > 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_plain_and_on_a_terminal() -> None:
    now = [100.0]
    plain = io.StringIO()
    line = ProgressLine("verify-audit", out=plain, clock=lambda: now[0], plain_every=10)
    line(0, 1000)
    now[0] += 5
    line(400, 1000)  # within 10 s of the last line: not shown
    now[0] += 5
    line(500, 1000)
    now[0] += 1
    line(1000, 1000)  # the end always shows
    line.finish()
    lines = plain.getvalue().splitlines()
    assert lines[1] == "verify-audit 500 / 1,000 events   50.0%  50/s  ETA 0:10"
    assert len(lines) == 3 and "\r" not in plain.getvalue()
    assert lines[2].startswith("verify-audit 1,000 / 1,000 events  100.0%") and "ETA -" in lines[2]

    term = _Terminal()
    bar = ProgressLine("verify-audit", out=term, clock=lambda: now[0])
    bar(0, 4_000_000)
    now[0] += 60
    bar(1_000_000, 4_000_000)
    bar.finish()
    shown = term.getvalue()
    assert shown.startswith("\rverify-audit [------------------------] 0 / 4,000,000")
    assert "\rverify-audit [######------------------] 1,000,000 / 4,000,000 events" in shown
    assert "16,667/s  ETA 3:00" in shown and shown.endswith("\n")


@pytest.fixture
def cli_env(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command builds its context from the environment: this test's database."""
    monkeypatch.setenv("RETENTION_FLOW_DATABASE_URL", ctx.settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_cli_resumes_or_starts_over(ctx: AppContext, tmp_path: Path) -> None:
    ids = _cases(ctx)
    state = tmp_path / "progress.json"
    _interrupted(ctx, state, 3)
    _tamper(ctx, ids[0])
    runner = CliRunner()
    args = ["verify-audit", "--state-file", str(state)]
    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert "verify-audit " in resumed.stderr and " events " in resumed.stderr
    assert json.loads(resumed.stdout)["resumed"] is not None
    fresh = runner.invoke(app, [*args, "--from-start", "--no-progress"])
    assert fresh.exit_code == 1 and fresh.stderr == ""
    assert json.loads(fresh.stdout)["broken_stream"] == ids[0]


def test_pages_of_any_size_find_the_same(ctx: AppContext) -> None:
    """A page boundary anywhere (inside a stream, between a stream and a head without
    events) changes nothing in the verdict."""
    ids = _cases(ctx)
    _tamper(ctx, ids[1], 2)
    with ctx.db.begin() as conn:  # a head left without a single event
        conn.execute(text("DELETE FROM audit_event WHERE stream = :s"), {"s": ids[3]})
    with read_session(ctx.db) as session:
        answers = [verify(session, batch=batch).as_dict() for batch in (1, 2, 3, 5000)]
    assert all(answer == answers[-1] for answer in answers)
    found = [(p["stream"], p["kind"]) for p in answers[-1]["problems"]]
    assert found == [(ids[1], "altered"), (ids[3], "missing")]
