"""Audit trail verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from ...services import queries
from ...services.context import Actor
from ..deps import CtxDep, require_role
from ..schemas import VerifyPublic
from ..strict_body import api_router

router = api_router(prefix="/api/audit", tags=["audit"])


Auditor = Annotated[Actor, Depends(require_role("auditor"))]


@router.get("/verify", response_model=VerifyPublic)
def verify(ctx: CtxDep, _user: Auditor) -> dict[str, Any]:
    """Walk every hash chain: ``ok``, or the first broken link."""
    return queries.verify_audit(ctx)
