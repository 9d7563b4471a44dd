"""Moving a case's tokens within its own version (like Camunda's process instance
modification): cancel the tokens at some elements, start tokens at others, then run the
automatic steps, in one audited step transaction. A case in an incident may be moved out
of it: its open incidents are resolved by the move."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update
from sqlmodel import Session

from retention_flow.core.errors import ValidationFailed
from retention_flow.engine.moves import move_operation
from retention_flow.engine.runtime import Operation
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps.runner import step_case
from retention_flow.services.steps.save import INCIDENT, CaseHead


def _element_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationFailed(
            f"{name} must be a list of element ids",
            errors=[{"field": name, "message": "a list of element ids"}],
        )
    return list(dict.fromkeys(value))


def move_case(
    ctx: AppContext,
    actor: Actor,
    case_id: str,
    cancel: list[str],
    activate: list[str],
    reason: str,
) -> CaseView:
    cancel = _element_list(cancel, "cancel")
    activate = _element_list(activate, "activate")
    if not cancel and not activate:
        raise ValidationFailed(
            "name elements to cancel or to activate",
            errors=[{"field": "activate", "message": "cancel and activate are both empty"}],
        )
    if not reason.strip():
        raise ValidationFailed(
            "a reason is required", errors=[{"field": "reason", "message": "required"}]
        )

    def make(
        session: Session, head: CaseHead
    ) -> tuple[Operation | None, list[NewEvent], dict[str, Any]]:
        open_ids = list(
            session.execute(
                select(INCIDENT.c.id).where(
                    and_(INCIDENT.c.case_id == head.id, INCIDENT.c.status == "open")
                )
            ).scalars()
        )
        if open_ids:
            session.execute(
                update(INCIDENT)
                .where(INCIDENT.c.id.in_(open_ids))
                .values(status="resolved", resolved_at=ctx.now(), resolved_by=actor.username)
            )
        detail = {"cancel": cancel, "activate": activate, "reason": reason.strip()}
        if open_ids:
            detail["incidents"] = open_ids
        events = [NewEvent("case_moved", actor.username, detail=detail)]
        return move_operation(cancel, activate, head.data), events, {}

    _result, view = step_case(ctx, actor, case_id, make, allowed_status=("active", "incident"))
    return view
