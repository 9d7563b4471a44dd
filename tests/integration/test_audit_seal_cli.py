"""The sealed audit trail as an operator and an auditor use it: ``retention-flow audit ...``
and ``verify-audit --checkpoints FILE`` run as subprocesses on the test's database (SQLite,
or PostgreSQL with RETENTION_FLOW_TEST_DATABASE_URL); the rewrites are raw SQL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from retention_flow.services.platform.context import AppContext
from tests.audit_rewrites import (
    case_head,
    case_with_history,
    events,
    finish_case,
    first_completed,
    rewrite_and_recompute,
    truncate_to,
)


def _cli(ctx: AppContext, *args: str, status: int = 0) -> Any:
    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": ctx.settings.database_url,
        "RETENTION_FLOW_AUDIT_KEY_FILE": ctx.settings.audit_key_file,
        "RETENTION_FLOW_AUDIT_CHECKPOINT_FILE": ctx.settings.audit_checkpoint_file,
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention_flow.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == status, proc.stdout + proc.stderr
    if status == 2:
        return json.loads(proc.stderr)
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def test_cli_finds_a_recomputed_chain_and_a_truncated_tail(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    kept = case_head(ctx.db, case_id)
    finish_case(ctx, case_id)
    other = case_with_history(ctx)
    written = _cli(ctx, "audit", "checkpoint")
    assert written["n"] == 1 and written["full"] and written["streams"] == 3
    assert _cli(ctx, "verify-audit")["checkpoints"]["lines"] == 1

    seq = first_completed(ctx.db, other)
    rewrite_and_recompute(ctx.db, other, seq, "mallory")  # (a)
    truncate_to(ctx.db, case_id, kept)  # (b), with the head it once had, seal and all
    file = ctx.settings.audit_checkpoint_file
    result = _cli(ctx, "verify-audit", "--checkpoints", file, status=1)
    found = {p["stream"]: p for p in result["problems"]}
    assert result["problem_count"] == 2 and not result["ok"]
    assert (found[other]["kind"], found[other]["seq"]) == ("resealed", seq)
    assert (found[case_id]["kind"], found[case_id]["seq"]) == ("truncated", kept["audit_seq"] + 1)
    assert f"ends at seq {kept['audit_seq']}" in found[case_id]["reason"]
    # without the checkpoints the seals still catch the rewrite, not the old genuine head
    result = _cli(ctx, "verify-audit", "--no-checkpoints", status=1)
    assert [p["stream"] for p in result["problems"]] == [other]
    assert _cli(ctx, "verify-audit", "--checkpoints", "/nonexistent.jsonl", status=2)["error"] == (
        "not_found"
    )


def test_cli_rotation_export_forgery_and_seal_existing(ctx: AppContext, tmp_path: Path) -> None:
    case_id = case_with_history(ctx)
    old = ctx.audit_keys.current()
    _cli(ctx, "audit", "checkpoint")
    rotated = _cli(ctx, "audit", "keys", "rotate")
    assert rotated["seal_active"] != old.seal_active
    assert set(rotated["seal_key_ids"]) == {old.seal_active, rotated["seal_active"]}
    ctx.audit_keys.knowing(rotated["seal_active"])  # this process reads the rotated file
    finish_case(ctx, case_id)
    assert {e["seal_key"] for e in events(ctx.db, case_id)} == {
        old.seal_active,
        rotated["seal_active"],
    }
    _cli(ctx, "audit", "checkpoint")
    assert _cli(ctx, "verify-audit")["ok"]
    public = _cli(ctx, "audit", "keys", "public")
    assert set(public["signing_public_keys"]) == {old.sign_active, rotated["sign_active"]}

    copy = tmp_path / "auditor-copy.jsonl"
    assert _cli(ctx, "audit", "export-checkpoints", "--out", str(copy)) is None
    text = Path(ctx.settings.audit_checkpoint_file).read_text()
    assert copy.read_text() == text and len(text.splitlines()) == 2
    last = json.loads(text.splitlines()[-1])
    forged = {
        **last,
        "n": 3,
        "prev": hashlib.sha256(text.splitlines()[-1].encode()).hexdigest(),
        "heads": {case_id: [99, "0" * 64]},
    }
    copy.write_text(text + json.dumps(forged) + "\n")
    result = _cli(ctx, "verify-audit", "--checkpoints", str(copy), status=1)
    assert result["kind"] == "checkpoint_forged" and result["problems"][0]["line"] == 3

    assert _cli(ctx, "audit", "seal-existing", "--user", "olga") == {
        "sealed": 0,
        "refused": [],
        "refused_count": 0,
    }
    again = _cli(ctx, "audit", "seal-existing", status=2)
    assert again["error"] == "conflict" and "already ran" in again["detail"]
