"""A full verification of the audit trail as ``retention-flow verify-audit`` runs it:
streaming, resumable, with progress.

- **Streaming**: ``audit_verify.walk`` reads a page of events at a time (keyset on
  stream, seq) and the heads of the streams each page covers; memory does not grow with
  the trail.
- **Resumable**: the streams are walked in name order, so "every stream up to X is
  verified" is the whole position. A state file (JSON, written atomically at most every
  ``save_every`` seconds and when the run is interrupted) holds that stream, the counts
  and the findings so far. A run with ``resume`` continues after it; one without starts
  from the first stream. A run that completes removes the file. The file names the
  database and checkpoint file it belongs to; a file of another database is refused
  rather than silently applied.
- **Progress**: ``on_progress(done, total)`` after every stream (events verified and
  the events in the trail); the caller decides how often to show it.

What a resumed run does not re-check: the streams before its position, as they are now
(an edit made there after the interrupted run verified them shows only in a run from the
start). Its answer says where it resumed, so the verdict is read with that in mind.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from retention_flow.core.clock import utc_iso
from retention_flow.core.errors import Conflict, NotFound, ValidationFailed
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT
from retention_flow.services.audit.checkpoint import CheckpointLog, checkpoint_path, read_log
from retention_flow.services.audit.verify import MAX_PROBLEMS, walk
from retention_flow.services.platform.context import AppContext

FORMAT = "retention-flow verify-audit progress 1"
Progress = Callable[[int, int], None]


def default_state_file(ctx: AppContext) -> Path:
    """Beside the checkpoint file: ``audit-verify-progress.json``."""
    return checkpoint_path(ctx).with_name("audit-verify-progress.json")


def checkpoint_log(
    ctx: AppContext, checkpoint_file: Path | None, use_checkpoints: bool
) -> CheckpointLog | None:
    """The checkpoints to compare with: ``checkpoint_file``, else the configured file
    when it exists (none when ``use_checkpoints`` is off)."""
    if checkpoint_file is not None:
        if not checkpoint_file.is_file():
            raise NotFound(f"checkpoint file {checkpoint_file} not found")
        return read_log(checkpoint_file, ctx.audit_keys)
    if use_checkpoints and checkpoint_path(ctx).is_file():
        return read_log(checkpoint_path(ctx), ctx.audit_keys)
    return None


def verify_all(
    ctx: AppContext,
    checkpoint_file: Path | None = None,
    *,
    use_checkpoints: bool = True,
    state_file: Path | None = None,
    resume: bool = True,
    on_progress: Progress | None = None,
    batch: int = 5000,
    save_every: float = 1.0,
) -> dict[str, Any]:
    """Verify every chain (``audit_verify.verify``'s findings), keeping the position in
    ``state_file`` (none: not resumable); with ``resume``, continue an unfinished run."""
    ctx.audit_keys.current()  # no keys, no verdict: say so before reading anything
    log = checkpoint_log(ctx, checkpoint_file, use_checkpoints)
    identity = {
        "database": ctx.db.url.render_as_string(hide_password=True),
        "checkpoints": log.path if log is not None else None,
    }
    state = _read_state(state_file, identity) if state_file is not None and resume else None
    resumed = state is not None
    if state is None:
        state = _fresh(identity, utc_iso(ctx.now()), log)
    began, saved = time.monotonic(), time.monotonic()
    done_before = state["events"]
    with read_session(ctx.db) as session:
        total = int(session.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one())
        if on_progress is not None:
            on_progress(state["events"], total)
        try:
            for outcome in walk(
                session, batch=batch, keys=ctx.audit_keys, checkpoints=log, after=state["after"]
            ):
                state["streams"] += outcome.events > 0
                state["events"] += outcome.events
                state["after"] = outcome.stream
                if outcome.problem is not None:
                    state["problem_count"] += 1
                    if len(state["problems"]) < MAX_PROBLEMS:
                        state["problems"].append(outcome.problem.as_dict())
                if on_progress is not None and outcome.events:
                    on_progress(state["events"], total)
                if state_file is not None and time.monotonic() - saved >= save_every:
                    _write_state(state_file, state, utc_iso(ctx.now()))
                    saved = time.monotonic()
        except BaseException:  # interrupted (Ctrl-C, a lost connection): keep the place
            if state_file is not None:
                _write_state(state_file, state, utc_iso(ctx.now()))
            raise
    if state_file is not None:
        state_file.unlink(missing_ok=True)
    seconds = time.monotonic() - began
    return _answer(state, log, resumed, total, state["events"] - done_before, seconds)


def _fresh(identity: dict[str, Any], now: str, log: CheckpointLog | None) -> dict[str, Any]:
    problems = [p.as_dict() for p in log.problems] if log is not None else []
    return {
        "format": FORMAT,
        **identity,
        "started_at": now,
        "updated_at": now,
        "after": None,
        "streams": 0,
        "events": 0,
        "problems": problems[:MAX_PROBLEMS],
        "problem_count": len(problems),
    }


def _read_state(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The unfinished run's state, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"verify-audit progress file {path} is not JSON ({exc}); remove it or run "
            "with --from-start"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValidationFailed(
            f"verify-audit progress file {path}: expected format {FORMAT!r}; remove it or "
            "run with --from-start"
        )
    for name, value in identity.items():
        if state.get(name) != value:
            raise Conflict(
                f"verify-audit progress file {path} belongs to a run with {name} "
                f"{state.get(name)!r}, not {value!r}: run with --from-start (or another "
                "--state-file)"
            )
    return state


def _write_state(path: Path, state: dict[str, Any], now: str) -> None:
    """Atomically: a file cut short by a crash never replaces the last good one."""
    state["updated_at"] = now
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _answer(
    state: dict[str, Any],
    log: CheckpointLog | None,
    resumed: bool,
    total: int,
    verified_now: int,
    seconds: float,
) -> dict[str, Any]:
    problems = state["problems"]
    first = problems[0] if problems else {}
    return {
        "ok": state["problem_count"] == 0,
        "streams": state["streams"],
        "events": state["events"],
        "broken_stream": first.get("stream"),
        "broken_seq": first.get("seq"),
        "reason": first.get("reason"),
        "kind": first.get("kind"),
        "problems": problems,
        "problem_count": state["problem_count"],
        "checkpoints": log.summary() if log is not None else None,
        "resumed": (
            {"started_at": state["started_at"], "events_before": state["events"] - verified_now}
            if resumed
            else None
        ),
        "events_in_trail": total,
        "seconds": round(seconds, 3),
        "events_per_second": round(verified_now / seconds) if seconds > 0 else None,
    }
