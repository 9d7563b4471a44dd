"""Seals and checkpoints catch what the bare hash chain cannot: a chain rewritten and
recomputed with the public algorithm, and a tail cut off with the head moved back to an
old genuinely sealed state. Also key rotation, forged checkpoint lines, heads written
before sealing, the worker's periodic checkpoint and the keys' home outside the database."""

from __future__ import annotations

import hashlib
import itertools
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.core.errors import AuditKeysUnavailable, Conflict
from retention_flow.db.session import read_session
from retention_flow.services.audit import admin as audit_admin
from retention_flow.services.audit import trail as audit
from retention_flow.services.audit.checkpoint import write_checkpoint
from retention_flow.services.audit.seal import AuditKeys, KeySet
from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform.worker import run_worker
from tests.audit_rewrites import (
    case_head,
    case_with_history,
    events,
    finish_case,
    first_completed,
    rewrite_and_recompute,
    truncate_to,
)


def _verify(ctx: AppContext, checkpoints: Path | None = None) -> dict[str, Any]:
    return audit_admin.verify_trail(ctx, checkpoints, use_checkpoints=checkpoints is not None)


def test_every_event_and_head_is_sealed_in_its_transaction(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    rows = events(ctx.db, case_id)
    key_id = ctx.audit_keys.current().seal_active
    assert rows and all(r["seal_key"] == key_id and len(r["seal"]) == 64 for r in rows)
    head = case_head(ctx.db, case_id)
    assert head["audit_seq"] == rows[-1]["seq"] and head["audit_seal_key"] == key_id
    assert head["audit_seal"] not in {r["seal"] for r in rows}  # a head seal is no event seal
    result = _verify(ctx)
    assert result["ok"] and result["problem_count"] == 0 and result["streams"] == 2


def test_recomputed_chain_is_found_at_the_first_event_that_differs(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    seq = first_completed(ctx.db, case_id)
    write_checkpoint(ctx)
    rewrite_and_recompute(ctx.db, case_id, seq, "mallory")
    with read_session(ctx.db) as session:  # the links and hashes alone all check out
        rows = events(ctx.db, case_id)
        assert [r["actor"] for r in rows if r["seq"] == seq] == ["mallory"]
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
        assert audit.verify(session).kind == "resealed"
    for checkpoints in (None, Path(ctx.settings.audit_checkpoint_file)):
        result = _verify(ctx, checkpoints)
        assert not result["ok"], result
        assert (result["broken_stream"], result["broken_seq"]) == (case_id, seq), result["problems"]
        assert result["kind"] == "resealed" and "first event that differs" in result["reason"]


def test_truncated_tail_with_an_old_sealed_head_is_found_by_the_checkpoint(
    ctx: AppContext,
) -> None:
    case_id = case_with_history(ctx)
    kept = case_head(ctx.db, case_id)  # read (and kept) by someone with database access
    finish_case(ctx, case_id)
    write_checkpoint(ctx)
    assert case_head(ctx.db, case_id)["audit_seq"] > kept["audit_seq"]
    truncate_to(ctx.db, case_id, kept)
    # the head's own seal is genuine (it once was the head): only the checkpoint knows
    assert _verify(ctx)["ok"]
    result = _verify(ctx, Path(ctx.settings.audit_checkpoint_file))
    assert not result["ok"] and result["kind"] == "truncated"
    assert (result["broken_stream"], result["broken_seq"]) == (case_id, kept["audit_seq"] + 1)
    assert "removed" in result["reason"]


def test_truncated_tail_with_the_head_moved_by_hand_fails_its_seal(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    rows = events(ctx.db, case_id)
    keep = rows[-3]
    head = {"audit_seq": keep["seq"], "audit_hash": keep["hash"]}
    # the best a forger without the key can do: reuse the kept event's own seal
    truncate_to(
        ctx.db, case_id, {**head, "audit_seal_key": keep["seal_key"], "audit_seal": keep["seal"]}
    )
    result = _verify(ctx)
    assert result["kind"] == "head_seal" and result["broken_stream"] == case_id


def test_rotated_keys_verify_old_and_new_seals(ctx: AppContext, clock: FrozenClock) -> None:
    case_id = case_with_history(ctx)
    old = ctx.audit_keys.current()
    write_checkpoint(ctx)
    rotated = audit_admin.rotate_keys(ctx).model_dump()
    assert rotated["seal_active"] != old.seal_active and old.seal_active in rotated["seal_key_ids"]
    assert stat.S_IMODE(Path(ctx.settings.audit_key_file).stat().st_mode) == 0o600
    finish_case(ctx, case_id)
    write_checkpoint(ctx)
    used = {r["seal_key"] for r in events(ctx.db, case_id)}
    assert used == {old.seal_active, rotated["seal_active"]}
    assert case_head(ctx.db, case_id)["audit_seal_key"] == rotated["seal_active"]
    lines = Path(ctx.settings.audit_checkpoint_file).read_text().splitlines()
    assert [json.loads(line)["key_id"] for line in lines] == [
        old.sign_active,
        rotated["sign_active"],
    ]
    assert _verify(ctx, Path(ctx.settings.audit_checkpoint_file))["ok"]
    # a process holding only the new keys names the old key id it does not know
    only_new = ctx.audit_keys.current()
    stripped = KeySet(
        only_new.seal_active,
        {only_new.seal_active: only_new.seal_keys[only_new.seal_active]},
        only_new.sign_active,
        {only_new.sign_active: only_new.sign_keys[only_new.sign_active]},
    )
    settings = ctx.settings.model_copy(update={"audit_keys": SecretStr(stripped.to_json())})
    other = AppContext(settings, clock=clock, engine=ctx.db)
    result = _verify(other, Path(ctx.settings.audit_checkpoint_file))
    kinds = {p["kind"] for p in result["problems"]}
    assert {"unknown_key", "checkpoint_unknown_key"} <= kinds
    assert old.seal_active in result["reason"] or old.sign_active in result["reason"]


def test_forged_removed_and_foreign_checkpoint_lines_are_reported(
    ctx: AppContext, clock: FrozenClock
) -> None:
    case_with_history(ctx)
    path = Path(ctx.settings.audit_checkpoint_file)
    write_checkpoint(ctx)
    write_checkpoint(ctx, full=True)
    assert _verify(ctx, path)["ok"]
    good = path.read_text()
    last_text = good.splitlines()[-1]
    last = json.loads(last_text)
    forged = {  # numbered and linked like a genuine next line, but signed by no one
        **last,
        "n": 3,
        "prev": hashlib.sha256(last_text.encode()).hexdigest(),
        "heads": {k: [v[0] + 5, v[1]] for k, v in last["heads"].items()},
    }
    path.write_text(good + json.dumps(forged) + "\n")
    result = _verify(ctx, path)
    assert not result["ok"] and result["kind"] == "checkpoint_forged", result["problems"]
    assert result["problems"][0]["line"] == 3 and "signature" in result["reason"]
    assert result["problem_count"] == 1  # the forged heads were not believed

    foreign = KeySet.generate(clock.now())  # a well-formed line signed by another key
    signed = {k: v for k, v in forged.items() if k != "sig"} | {"key_id": foreign.sign_active}
    payload = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    signed["sig"] = foreign.sign(payload)[1]
    path.write_text(good + json.dumps(signed) + "\n")
    assert _verify(ctx, path)["kind"] == "checkpoint_unknown_key"

    lines = good.splitlines(keepends=True)
    path.write_text(lines[1])  # the first line removed
    assert _verify(ctx, path)["kind"] == "checkpoint_broken"


def test_checkpoint_records_only_moved_heads_and_commits_to_all(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    first = write_checkpoint(ctx).model_dump()
    assert first["full"] and first["heads_written"] == first["streams"] == 2
    assert write_checkpoint(ctx).model_dump()["heads_written"] == 0
    finish_case(ctx, case_id)
    third = write_checkpoint(ctx).model_dump()
    assert third["heads_written"] == 1 and third["streams"] == 2 and not third["full"]
    line = json.loads(Path(ctx.settings.audit_checkpoint_file).read_text().splitlines()[-1])
    assert list(line["heads"]) == [case_id] and line["n"] == 3
    # a write cut short by a crash is not a checkpoint and the next write removes it
    with open(ctx.settings.audit_checkpoint_file, "a") as handle:
        handle.write('{"v": 1, "n": 4, "at"')
    assert _verify(ctx, Path(ctx.settings.audit_checkpoint_file))["checkpoints"]["incomplete_tail"]
    assert write_checkpoint(ctx).model_dump()["n"] == 4
    assert _verify(ctx, Path(ctx.settings.audit_checkpoint_file))["ok"]


def test_a_deleted_case_is_found_by_the_checkpoint(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    write_checkpoint(ctx)
    with ctx.db.begin() as conn:
        for table in ("audit_event", "work_item", "timer", "case_key"):
            column = "stream" if table == "audit_event" else "case_id"
            conn.execute(text(f"DELETE FROM {table} WHERE {column} = :c"), {"c": case_id})
        conn.execute(text('DELETE FROM "case" WHERE id = :c'), {"c": case_id})
    result = _verify(ctx, Path(ctx.settings.audit_checkpoint_file))
    assert result["kind"] == "stream_missing" and result["broken_stream"] == case_id


def _as_before_the_upgrade(ctx: AppContext) -> None:
    """The database as migration 0014 finds one written before sealing: no seal anywhere."""
    with ctx.db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET seal = NULL, seal_key = NULL"))
        conn.execute(text("UPDATE audit_head SET seal = NULL, seal_key = NULL"))
        conn.execute(text('UPDATE "case" SET audit_seal = NULL, audit_seal_key = NULL'))


def test_heads_written_before_sealing_are_sealed_once(ctx: AppContext) -> None:
    untouched, rewritten, resumed = (case_with_history(ctx) for _ in range(3))
    _as_before_the_upgrade(ctx)
    write_checkpoint(ctx)  # the worker's first pass after the upgrade
    rewrite_and_recompute(ctx.db, rewritten, first_completed(ctx.db, rewritten), "mallory")
    result = _verify(ctx)
    assert [p["kind"] for p in result["problems"]] == ["legacy_head"] * 4  # 3 cases + system
    done = audit_admin.seal_existing(ctx, "olga").model_dump()
    # the rewritten one is caught by the checkpoint and stays unsealed
    assert done["sealed"] == 3 and done["refused_count"] == 1
    assert done["refused"][0]["stream"] == rewritten
    assert done["refused"][0]["kind"] == "differs_from_checkpoint"
    finish_case(ctx, resumed)  # its new events are sealed, and its head over the old ones
    result = _verify(ctx, Path(ctx.settings.audit_checkpoint_file))
    assert [p["stream"] for p in result["problems"]] == [rewritten]
    with pytest.raises(Conflict, match="already ran"):
        audit_admin.seal_existing(ctx, "olga")
    # a seal removed later is a finding, never a legacy head again
    with ctx.db.begin() as conn:
        conn.execute(text('UPDATE "case" SET audit_seal = NULL WHERE id = :c'), {"c": untouched})
    found = {p["stream"]: p for p in _verify(ctx)["problems"]}
    assert found[untouched]["kind"] == "unsealed"
    assert "seal-existing` ran" in found[untouched]["reason"]


def test_removed_seals_are_findings(ctx: AppContext) -> None:
    case_id = case_with_history(ctx)
    with ctx.db.begin() as conn:
        conn.execute(
            text("UPDATE audit_event SET seal = NULL WHERE stream = :c AND seq = 3"),
            {"c": case_id},
        )
    result = _verify(ctx)
    assert (result["kind"], result["broken_seq"]) == ("unsealed", 3)
    # every seal of a stream removed: its events were stored after sealing began
    with ctx.db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET seal = NULL WHERE stream = :c"), {"c": case_id})
        conn.execute(text('UPDATE "case" SET audit_seal = NULL WHERE id = :c'), {"c": case_id})
    result = _verify(ctx)
    assert (result["kind"], result["broken_seq"]) == ("unsealed", 1)
    assert "after sealing began" in result["reason"]


def test_worker_writes_checkpoints_at_its_interval(ctx: AppContext) -> None:
    case_with_history(ctx)
    path = Path(ctx.settings.audit_checkpoint_file)
    run_worker(ctx, handlers={}, poll_seconds=0.001, max_passes=3)
    assert len(path.read_text().splitlines()) == 1  # the first pass; the interval not yet up
    ctx.settings = ctx.settings.model_copy(update={"audit_checkpoint_seconds": 0})
    run_worker(ctx, handlers={}, poll_seconds=0.001, max_passes=2)
    assert len(path.read_text().splitlines()) == 1


def test_keys_are_created_once_0600_outside_the_database(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "keys" / "audit-keys.json"
    settings = Settings(audit_key_file=str(path))
    first, second = AuditKeys(settings, clock.now), AuditKeys(settings, clock.now)
    assert first.current().seal_active == second.current().seal_active
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["audit-keys.json"]  # no temp file left
    production = Settings(audit_key_file=str(tmp_path / "missing.json"), environment="production")
    with pytest.raises(AuditKeysUnavailable, match="audit keys init"):
        AuditKeys(production, clock.now).current()
    path.chmod(0o644)
    prod_readable = Settings(audit_key_file=str(path), environment="production")
    with pytest.raises(AuditKeysUnavailable, match="readable by others"):
        AuditKeys(prod_readable, clock.now).current()
    secret = Settings(
        audit_key_file=str(tmp_path / "unused.json"),
        audit_keys=SecretStr(KeySet.generate(clock.now()).to_json()),
    )
    assert AuditKeys(secret, clock.now).current().seal_keys
    assert not (tmp_path / "unused.json").exists()
    with pytest.raises(AuditKeysUnavailable, match="not JSON"):
        AuditKeys(Settings(audit_keys=SecretStr("{")), clock.now).current()


def test_writer_reports_a_checkpoint_file_cut_behind_its_back(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    case_id = case_with_history(ctx)
    path = Path(ctx.settings.audit_checkpoint_file)
    write_checkpoint(ctx)
    finish_case(ctx, case_id)
    write_checkpoint(ctx)
    path.write_text(path.read_text().splitlines(keepends=True)[0])
    with caplog.at_level("ERROR"):
        assert write_checkpoint(ctx).model_dump()["n"] == 2
    assert "lines were removed" in caplog.text
