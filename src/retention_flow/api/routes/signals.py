"""Signals broadcast to every waiting case (and to processes a signal starts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from retention_flow.services.cases import signals
from retention_flow.services.cases.views import SignalOutcome
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..schemas import SignalIn, SignalOut
from ..strict_body import api_router

router = api_router(prefix="/api/signals", tags=["signals"])

Broadcaster = Annotated[Actor, Depends(require_role("process_owner", "admin", "system"))]


@router.post("/{name}", response_model=SignalOut)
def broadcast(
    ctx: CtxDep,
    user: Broadcaster,
    name: Annotated[str, Path(min_length=1, max_length=200)],
    body: SignalIn,
) -> SignalOutcome:
    """Deliver signal ``name`` to every active case waiting for it (each in its own audited
    step) and start a case of every process whose start event catches it. At most 5,000
    cases per request: ``remaining`` says how many still wait; send again to reach them."""
    return signals.broadcast(ctx, user, name, body.data)
