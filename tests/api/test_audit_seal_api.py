"""The sealed audit trail through the API, as an auditor reads it: GET /api/audit/verify
compares with the server's checkpoints, GET /api/audit/checkpoints hands out the signed
file, GET /api/audit/keys the signing keys' public halves. The rewrites are raw SQL."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from retention_flow.services.audit.checkpoint import write_checkpoint
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.audit_rewrites import (
    case_head,
    case_with_history,
    finish_case,
    first_completed,
    rewrite_and_recompute,
    truncate_to,
)


def test_api_verify_finds_a_recomputed_chain(
    ctx: AppContext, client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    case_id = case_with_history(ctx)
    write_checkpoint(ctx)
    body = client.get("/api/audit/verify", headers=headers["auditor"]).json()
    assert body["ok"] and body["checkpoints"]["lines"] == 1, body
    seq = first_completed(ctx.db, case_id)
    rewrite_and_recompute(ctx.db, case_id, seq, "mallory")
    response = client.get("/api/audit/verify", headers=headers["auditor"])
    assert response.status_code == 200
    body = response.json()
    assert not body["ok"] and body["kind"] == "resealed"
    assert (body["broken_stream"], body["broken_seq"]) == (case_id, seq)
    assert [(p["kind"], p["stream"], p["seq"]) for p in body["problems"]] == [
        ("resealed", case_id, seq)
    ]


def test_api_verify_finds_a_truncated_tail(
    ctx: AppContext, client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    case_id = case_with_history(ctx)
    kept = case_head(ctx.db, case_id)
    finish_case(ctx, case_id)
    write_checkpoint(ctx)
    truncate_to(ctx.db, case_id, kept)
    body = client.get("/api/audit/verify", headers=headers["auditor"]).json()
    assert not body["ok"] and body["kind"] == "truncated"
    assert (body["broken_stream"], body["broken_seq"]) == (case_id, kept["audit_seq"] + 1)


def test_api_hands_out_checkpoints_and_public_keys(
    ctx: AppContext, client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    empty = client.get("/api/audit/checkpoints", headers=headers["auditor"])
    assert empty.status_code == 200 and empty.content == b""
    case_id = case_with_history(ctx)
    write_checkpoint(ctx)
    finish_case(ctx, case_id)
    write_checkpoint(ctx)
    response = client.get("/api/audit/checkpoints", headers=headers["auditor"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.content == Path(ctx.settings.audit_checkpoint_file).read_bytes()
    keys = client.get("/api/audit/keys", headers=headers["auditor"]).json()
    assert keys["sign_active"] in keys["signing_public_keys"]
    # an auditor checks each line's signature with the public key alone
    for text in response.text.splitlines():
        line = json.loads(text)
        signed = {k: v for k, v in line.items() if k != "sig"}
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(keys["signing_public_keys"][line["key_id"]])
        )
        public.verify(
            base64.b64decode(line["sig"]),
            json.dumps(signed, sort_keys=True, separators=(",", ":")).encode(),
        )
    assert_problem(client.get("/api/audit/keys", headers=headers["agent"]), 403, "forbidden")
    # a line appended to the server's file without the signing key is reported
    last = json.loads(response.text.splitlines()[-1])
    forged = {**last, "n": 3, "heads": {case_id: [1, "0" * 64]}}
    forged["prev"] = hashlib.sha256(response.text.splitlines()[-1].encode()).hexdigest()
    with open(ctx.settings.audit_checkpoint_file, "a") as handle:
        handle.write(json.dumps(forged) + "\n")
    body = client.get("/api/audit/verify", headers=headers["auditor"]).json()
    assert not body["ok"] and body["kind"] == "checkpoint_forged"
    assert body["problems"][0]["line"] == 3 and body["problem_count"] == 1


def test_api_answers_503_when_production_keys_are_missing(
    ctx: AppContext, client: TestClient, headers: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    from retention_flow.services.audit.seal import AuditKeys

    case_with_history(ctx)
    settings = ctx.settings.model_copy(
        update={"environment": "production", "audit_key_file": str(tmp_path / "none.json")}
    )
    ctx.audit_keys = AuditKeys(settings, ctx.clock.now)
    body = assert_problem(
        client.get("/api/audit/verify", headers=headers["auditor"]), 503, "audit_keys_unavailable"
    )
    assert "audit keys init" in body["detail"]
