"""Audit trail verification, its checkpoints and the keys to check them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import StreamingResponse

from retention_flow.services.audit import admin as audit_admin
from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..schemas import AuditKeysPublic, VerifyPublic
from ..strict_body import api_router

router = api_router(prefix="/api/audit", tags=["audit"])


Auditor = Annotated[Actor, Depends(require_role("auditor"))]


@router.get("/verify", response_model=VerifyPublic)
def verify(ctx: CtxDep, _user: Auditor) -> dict[str, Any]:
    """Walk every hash chain with its seals and compare with the server's checkpoint file:
    ``ok``, or the first finding (stream, seq, kind, reason) and a list of them."""
    return queries.verify_audit(ctx)


@router.get(
    "/checkpoints",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def checkpoints(ctx: CtxDep, _user: Auditor) -> StreamingResponse:
    """The signed checkpoint file as written, one JSON object per line (empty when none
    was written yet): keep a copy, then `retention-flow verify-audit --checkpoints FILE`."""
    return StreamingResponse(
        audit_admin.checkpoint_lines(ctx),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit-checkpoints.jsonl"'},
    )


@router.get("/keys", response_model=AuditKeysPublic)
def keys(ctx: CtxDep, _user: Auditor) -> AuditKeysPublic:
    """The seal key ids and the checkpoint signing keys' public halves (Ed25519, raw,
    base64): what an auditor needs to check checkpoint signatures elsewhere."""
    return audit_admin.public_keys(ctx)
