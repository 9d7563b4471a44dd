"""A case's operations page: where it stands (status, open tasks, open incident, its
diagram with the failing element marked, its latest events) and the control actions
(cancel, suspend, resume, correct data), each confirmed and with a reason, answered with
the status before → after. Process owners and admins do everything; team leads may open
the page and cancel. Also the signal broadcast form (process owners and admins).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import history as case_history
from retention_flow.services.cases import incidents, signals
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes

from ..core import strict_json
from ..core.errors import Conflict, ValidationFailed
from .errors import plain_words
from .operations import field_errors, parse_patch
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

Controller = Annotated[Actor, Depends(require_page_role("process_owner", "admin"))]
Canceller = Annotated[Actor, Depends(require_page_role("process_owner", "admin", "team_lead"))]
CaseId = Annotated[str, Path(max_length=36)]
Action = Literal["suspend", "resume", "data"]
RECENT_EVENTS = 15
VERBS = {"cancel": "Cancelled", "suspend": "Suspended", "resume": "Resumed", "data": "Corrected"}


def may_control(user: Actor) -> bool:
    return user.has_role("process_owner") or user.has_role("admin")


def _case_page(
    ctx: AppContext,
    request: Request,
    user: Actor,
    case_id: str,
    action: str = "",
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    queries.check_case_visible(ctx, user, case_id)
    found = case_history.case_history(ctx, case_id)
    open_incidents = [i for i in incidents.case_incidents(ctx, case_id) if i["status"] == "open"]
    case = found.case
    context = {
        "case": case,
        "verify": found.verify,
        "marks": found.marks.model_dump(),
        "events": list(reversed(found.events))[:RECENT_EVENTS],
        "incident": open_incidents[-1] if open_incidents else None,
        "data_json": json.dumps(case.data, indent=2, sort_keys=True, ensure_ascii=False),
        "may_control": may_control(user),
        "action": action,
        "typed": typed or {},
        "errors": errors or {},
        "is_auditor": user.has_role("auditor"),
    }
    return render(ctx, request, "ops_case.html", context, user=user, status_code=status)


@router.get("/operations/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, ctx: PageCtx, user: Canceller, case_id: CaseId) -> Response:
    return _case_page(ctx, request, user, case_id)


@router.get("/operations/cases/{case_id}/diagram")
def case_diagram(ctx: PageCtx, user: Canceller, case_id: CaseId) -> Response:
    """The BPMN of the version the case runs on."""
    queries.check_case_visible(ctx, user, case_id)
    case = cases.get_case(ctx, case_id)
    xml = processes.version_xml(ctx, case.process_id, case.process_version)
    return Response(xml, media_type="application/xml")


def _act(
    ctx: AppContext,
    request: Request,
    user: Actor,
    case_id: str,
    action: str,
    typed: dict[str, str],
) -> Response:
    """Run one control action once confirmed; answer the page with the error next to its
    field (422) or a redirect with the status before → after."""
    queries.check_case_visible(ctx, user, case_id)
    errors: dict[str, str] = {}
    reason = typed.get("reason", "").strip()
    patch: dict[str, Any] | None = None
    if action == "data":
        patch, problem = parse_patch(typed.get("patch", ""))
        if problem or patch is None:
            errors["patch"] = problem or 'Type the correction as a JSON object, like {"a": 1}.'
    if action != "resume" and not reason:
        errors["reason"] = "Please give a reason (it goes into the case's history)."
    if typed.get("confirm") != "yes":
        errors["confirm"] = "Tick the box to confirm."
    if errors:
        return _case_page(ctx, request, user, case_id, action, typed, errors, 422)
    before = cases.get_case(ctx, case_id).status
    try:
        if action == "cancel":
            after = case_control.cancel_case(ctx, user, case_id, reason)
        elif action == "suspend":
            after = case_control.suspend_case(ctx, user, case_id, reason)
        elif action == "resume":
            after = case_control.resume_case(ctx, user, case_id, reason or None)
        else:
            after = case_control.patch_case_data(ctx, user, case_id, patch, reason)
    except ValidationFailed as exc:
        errors = field_errors(exc, ("patch", "reason") if action == "data" else ("reason",))
        return _case_page(ctx, request, user, case_id, action, typed, errors, 422)
    except Conflict as exc:  # not in a status that allows it, changed meanwhile
        errors = {"form": f"{plain_words(exc)} ({exc.detail})"}
        return _case_page(ctx, request, user, case_id, action, typed, errors, 409)
    response = RedirectResponse(f"/operations/cases/{case_id}", status_code=303)
    flash(ctx, response, f"{VERBS[action]}: status {before} → {after.status}.", "ok")
    return response


@router.post("/operations/cases/{case_id}/cancel")
def cancel(
    request: Request,
    ctx: PageCtx,
    user: Canceller,
    case_id: CaseId,
    reason: Annotated[str, Form(max_length=4000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    typed = {"reason": reason, "confirm": confirm}
    return _act(ctx, request, user, case_id, "cancel", typed)


@router.post("/operations/cases/{case_id}/{action}")
def control(
    request: Request,
    ctx: PageCtx,
    user: Controller,
    case_id: CaseId,
    action: Action,
    reason: Annotated[str, Form(max_length=4000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
    patch: Annotated[str, Form()] = "",
) -> Response:
    """Suspend, resume or correct the data (``patch``: a JSON merge patch)."""
    typed = {"reason": reason, "confirm": confirm, "patch": patch}
    return _act(ctx, request, user, case_id, action, typed)


# --------------------------------------------------------------------------- signals


@router.get("/operations/signals", response_class=HTMLResponse)
def signal_form(request: Request, ctx: PageCtx, user: Controller) -> Response:
    context = {"typed": {"name": "", "data": ""}, "errors": {}, "answer": None}
    return render(ctx, request, "ops_signals.html", context, user=user)


@router.post("/operations/signals", response_class=HTMLResponse)
def send_signal(
    request: Request,
    ctx: PageCtx,
    user: Controller,
    name: Annotated[str, Form(max_length=200)] = "",
    data: Annotated[str, Form()] = "",
) -> Response:
    """Broadcast the signal and show whom it reached (delivered, started, skipped)."""
    typed = {"name": name, "data": data}
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {}
    if not name.strip():
        errors["name"] = "Please give the signal's name (as the diagrams declare it)."
    if data.strip():
        try:
            parsed = strict_json.loads(data, "data")
        except ValidationFailed as exc:  # malformed, NaN, duplicate keys, unsafe integers
            errors["data"] = f"This is not valid JSON ({exc.detail})."
        else:
            if isinstance(parsed, dict):
                payload = parsed
            else:
                errors["data"] = 'The data is a JSON object, like {"campaign": "spring"}.'
    answer = None
    if not errors:
        try:
            answer = signals.broadcast(ctx, user, name.strip(), payload)
        except ValidationFailed as exc:
            errors = field_errors(exc, ("name", "data"))
    context = {"typed": typed, "errors": errors, "answer": answer}
    status = 422 if errors else 200
    return render(ctx, request, "ops_signals.html", context, user=user, status_code=status)
