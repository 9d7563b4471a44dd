"""Case control: cancel, suspend, resume, correct data (process owners and admins;
cancelling also team leads; partners never)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from retention_flow.services.cases import control as case_control
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, VisibleCase, require_role
from ..ops_schemas import DataPatchIn, OptionalReasonIn, ReasonIn
from ..schemas import CasePublic
from ..strict_body import api_router

router = api_router(prefix="/api/cases", tags=["case control"])

Controller = Annotated[Actor, Depends(require_role("process_owner", "admin"))]
Canceller = Annotated[Actor, Depends(require_role("process_owner", "admin", "team_lead"))]


@router.post("/{case_id}/cancel", response_model=CasePublic)
def cancel(ctx: CtxDep, user: Canceller, case_id: VisibleCase, body: ReasonIn) -> CaseView:
    """End the case; its open tasks and timers are cancelled."""
    return case_control.cancel_case(ctx, user, case_id, body.reason)


@router.post("/{case_id}/suspend", response_model=CasePublic)
def suspend(ctx: CtxDep, user: Controller, case_id: VisibleCase, body: ReasonIn) -> CaseView:
    """Hold the case: its tasks cannot be claimed or completed, its timers do not fire,
    messages to it answer 409 ``case_suspended``."""
    return case_control.suspend_case(ctx, user, case_id, body.reason)


@router.post("/{case_id}/resume", response_model=CasePublic)
def resume(
    ctx: CtxDep, user: Controller, case_id: VisibleCase, body: OptionalReasonIn | None = None
) -> CaseView:
    """Go on; timers that fell due while suspended fire at the worker's next pass."""
    return case_control.resume_case(ctx, user, case_id, body.reason if body else None)


@router.patch("/{case_id}/data", response_model=CasePublic)
def patch_data(ctx: CtxDep, user: Controller, case_id: VisibleCase, body: DataPatchIn) -> CaseView:
    """Correct the case data with a JSON merge patch, checked against the types the
    bundle's forms declare (keys no form declares are allowed)."""
    return case_control.patch_case_data(ctx, user, case_id, body.patch, body.reason)
