"""The task page: the case context (customer, contract, eligible offers, previous attempts
and notes) beside the outcome form from the task's schema; claim, release, complete.
Completing leads straight to the next task (the case's own next step first)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from retention_flow.services.outreach import response_forms
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.next_task import offer_of
from retention_flow.services.scans import review as scan_review
from retention_flow.services.tasks import task_context
from retention_flow.services.tasks import work_items as tasks
from retention_flow.services.tasks.views import Assignment, TaskDetail

from ..core.errors import Conflict, Forbidden, SkillsMissing, ValidationFailed
from . import forms, task_exception
from .errors import plain_words
from .queue import QUEUE_ROLES, sla_state
from .session import (
    PageCtx,
    drop_draft,
    flash,
    login_url,
    optional_web_user,
    page_router,
    read_draft,
    require_page_role,
    save_draft,
)
from .templating import render

router = page_router()

#: who may open a task page (the services decide what each may see and do on it; an
#: admin may open what they can assign)
TASK_ROLES = QUEUE_ROLES | {"team_lead", "admin"}
TaskUser = Annotated[Actor, Depends(require_page_role(TASK_ROLES))]
MaybeUser = Annotated[Actor | None, Depends(optional_web_user)]

#: case data shown as the customer and contract facts, in this order, with labels
CUSTOMER_FACTS = (
    ("customer_name", "Customer"),
    ("customer_id", "Customer number"),
    ("case_number", "Case number"),
    ("product", "Product"),
    ("region", "Region"),
    ("tenure_months", "Customer for (months)"),
    ("contract_age_months", "Contract age (months)"),
    ("contract_end", "Contract ends"),
    ("monthly_revenue_cents", "Monthly revenue"),
    ("churn_risk", "Churn risk"),
    ("cancellation_reason", "Cancellation reason"),
)
#: the register's customer fields under the names the case data uses
REGISTER = {"id": "customer_id", "name": "customer_name"}
CONTEXT_KEYS = frozenset({"customer", "contract", "previous_attempts"})
OFFER_KEYS = ("offer_code", "offer", "eligible_offers", "offer_hits", "attempts", "max_attempts")


def _fact(key: str, value: Any) -> str:
    if key == "monthly_revenue_cents" and isinstance(value, int):
        return f"{value / 100:.2f} €"
    return str(value).replace("_", " ") if key in ("product", "churn_risk") else str(value)


def customer_facts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of the customer and contract: the customer register's, else the
    case data's."""
    customer = data.get("customer") or {}
    known = {**data, **(data.get("contract") or {})}
    known.update({REGISTER.get(k, k): v for k, v in customer.items()})
    return [
        (label, _fact(k, known[k]))
        for k, label in CUSTOMER_FACTS
        if known.get(k) not in (None, "", "none")
    ]


def case_context(task: TaskDetail) -> dict[str, Any]:
    """What the page shows beside the form: facts, offers, earlier steps and their notes
    (``services.task_context``)."""
    data = task.context
    facts = customer_facts(data)
    history = [
        {
            "at": a.get("completed_at"),
            "actor": a.get("completed_by"),
            "step": a.get("name") or a.get("element_id"),
            "data": a.get("recorded") or {},
        }
        for a in data.get("previous_attempts") or []
        if a.get("task_id") != task.id
    ]
    shown = {k for k, _ in CUSTOMER_FACTS} | set(OFFER_KEYS) | CONTEXT_KEYS
    return {
        "facts": facts,
        "offer": data.get("offer_code") or data.get("offer"),
        "eligible_offers": data.get("eligible_offers") or [],
        "attempts": data.get("attempts"),
        "max_attempts": data.get("max_attempts"),
        "history": history,
        "other": {k: v for k, v in data.items() if k not in shown},
    }


def scanned(ctx: AppContext, task: TaskDetail) -> dict[str, Any]:
    """The case's latest scanned page, if any: its fields, the crop of each uncertain one
    keyed by the case-data name it fills (the form's field of the same name shows it), and
    the values OCR read, to start the form with."""
    data = task.context
    exception = task_exception.exception_page(ctx, data, customer_facts)
    if exception is not None:
        return {"scan_page": None, "crops": {}, "read_values": {}, "exception": exception}
    pages = scan_review.pages_of_case(ctx, task.case_id)
    if not pages:
        return {"scan_page": None, "crops": {}, "read_values": {}, "exception": None}
    latest = pages[0]
    # the offers printed on the form, box 1 first (its letter's), else the case's own
    printed = response_forms.printed_offers(ctx, task.case_id)
    offers = printed if printed is not None else data.get("eligible_offers")
    page = {
        **latest.model_dump(),
        "printed_offers": offers,
        "zones": scan_review.page_zones(ctx, latest.scan_id, latest.page_no),
    }
    crops: dict[str, dict[str, Any]] = {}
    base = f"/scans/{latest.scan_id}/pages/{latest.page_no}/fields"
    for f in latest.fields:
        if f.get("status") != "ok":
            url = f"{base}/{quote(f['name'])}.png" if latest.has_image and f.get("box") else None
            # the form prints the case's eligible offers in order, one box each
            order = offers if f.get("kind") == "checkbox_group" else None
            crops[f.get("target") or f["name"]] = {**f, "url": url, "order": order or []}
    form_data = data.get("response_form") or {}
    read = {k: v for k, v in form_data.items() if isinstance(v, str | bool | int | float)}
    return {"scan_page": page, "crops": crops, "read_values": read, "exception": None}


OPEN = ("ready", "claimed")


def task_page(
    ctx: AppContext,
    request: Request,
    user: Actor,
    task_id: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    base: str = "/tasks",
    notice: str | None = None,
    kept: bool = False,
) -> Response:
    """The task page; ``base`` is where its forms post (``/tasks`` or the partner portal's
    ``/partner/leads``). ``kept``: ``values`` are what the user typed for a submit that
    could not complete (shown, disabled, beside the reason); ``notice`` says something
    above the form (a restored draft)."""
    task = tasks.get_task(ctx, user, task_id)
    scan = scanned(ctx, task)
    fields = forms.fields_of(task.form, values or scan["read_values"], errors)
    data = task.context
    # offer choices: those printed on a scanned form, else the case's eligible offers
    offers = scan["scan_page"]["printed_offers"] if scan["scan_page"] else None
    fields = forms.restrict_offers(fields, offers or data.get("eligible_offers") or [])
    mine = task.state == "claimed" and task.claimed_by == user.username
    ended = task_context.task_end(ctx, task_id) if task.state not in OPEN else None
    exception = scan["exception"]
    title = task.name or task.element_id
    label = task.business_key or data.get("case_number") or task.case_id
    shown = case_context(task)
    if offers:  # a scanned form: the offers printed on it, in their order
        shown |= {"eligible_offers": offers, "printed_offers": True}
    if exception is not None:  # what happened, not the exception case's id
        title = exception["title"]
        label = f"{exception['filename']}, page {exception['page_no']}"
        shown |= {"facts": exception["facts"], "eligible_offers": [], "other": {}}
    find = str(request.query_params.get("find") or "")
    context = {
        "task": task,
        "page_title": title,
        "case_label": label,
        "find": find,
        "found_cases": task_exception.find_cases(ctx, user, find) if exception else [],
        "sla": sla_state(task.due_at, ctx.now()),
        "fields": fields,
        "labels": {f.name: f.label for f in fields},
        "form_error": (errors or {}).get("(form)"),
        "open": task.state in OPEN,
        "mine": mine,
        "others": task.state == "claimed" and not mine,
        "can_work": task.role in user.roles,
        "base": base,
        "ended": ended,
        "ended_by_me": ended is not None and ended.ended_by == user.username,
        "kept": kept,
        "assigned": _assigned_to(ctx, task, user),
        "why": offer_of(ctx, user.username, task_id) if task.state in OPEN else None,
        "notice": notice,
        **shown,
        **scan,
    }
    return render(ctx, request, "task.html", context, user=user, status_code=status_code)


def _assigned_to(ctx: AppContext, task: TaskDetail, user: Actor) -> Assignment | None:
    """The reassignment that gave this open task to ``user``, if one did (its reason is
    shown to them)."""
    if task.state != "claimed" or task.claimed_by != user.username:
        return None
    found = task_context.last_assignment(ctx, task.case_id, task.id)
    return found if found and found.assignee == user.username else None


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def show_task(request: Request, ctx: PageCtx, user: TaskUser, task_id: str) -> Response:
    """The task page; opening it starts the viewer's work on the task if they may work it
    (handling time counts from here, ``services/tasks/work_time.py``). Values typed before a
    session ended come back once (the draft cookie)."""
    # claimed or finished meanwhile: the page shows how it stands
    with contextlib.suppress(Conflict):
        tasks.open_for_work(ctx, user, task_id)
    draft = read_draft(ctx, request, task_id)
    if draft is None:
        return task_page(ctx, request, user, task_id)
    task = tasks.get_task(ctx, user, task_id)
    values = forms.parse(task.form, draft)
    notice = "Your session had ended: the values you typed are back. Check them and submit."
    response = task_page(ctx, request, user, task_id, values, notice=notice)
    drop_draft(response)
    return response


def _conflict(ctx: AppContext, exc: Conflict | SkillsMissing, back: str = "/queue") -> Response:
    response = RedirectResponse(back, status_code=303)
    words = f"{plain_words(exc)} {exc.detail}" if isinstance(exc, SkillsMissing) else None
    flash(ctx, response, words or plain_words(exc), "error")
    return response


def _claim_step(
    ctx: AppContext, step: Any, user: Actor, task_id: str, target: str, note: str | None = None
) -> Response:
    """Claim or give back: on to ``target`` (with ``note``), or back to the queue saying
    why not."""
    try:
        step(ctx, user, task_id)
    except (Conflict, SkillsMissing) as exc:
        return _conflict(ctx, exc)
    response = RedirectResponse(target, status_code=303)
    if note:
        flash(ctx, response, note, "info")
    return response


@router.post("/tasks/{task_id}/claim")
def claim_task(ctx: PageCtx, user: TaskUser, task_id: str) -> Response:
    return _claim_step(ctx, tasks.claim, user, task_id, f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/release")
def release_task(ctx: PageCtx, user: TaskUser, task_id: str) -> Response:
    note = "The task is back in the queue."
    return _claim_step(ctx, tasks.unclaim, user, task_id, "/queue", note)


@router.post("/tasks/{task_id}/complete", response_class=HTMLResponse)
async def complete_task(request: Request, ctx: PageCtx, user: MaybeUser, task_id: str) -> Response:
    """Complete; without a session the typed values are kept for after the login, which
    leads back to this task."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if user is None:
        response = RedirectResponse(login_url(f"/tasks/{task_id}", "expired"), status_code=303)
        save_draft(ctx, response, task_id, form)
        return response
    if not user.roles & TASK_ROLES:
        raise Forbidden("this page is for another role: " + ", ".join(sorted(TASK_ROLES)))
    return await run_in_threadpool(complete_from_form, ctx, request, user, task_id, form)


def complete_from_form(
    ctx: AppContext,
    request: Request,
    user: Actor,
    task_id: str,
    form: dict[str, Any],
    base: str = "/tasks",
    done: str | None = None,
) -> Response:
    """Complete with the submitted form: the page again with the errors (422), or on to
    the case's next task for this user, else ``done`` (default: the next in the queue)."""
    task = tasks.get_task(ctx, user, task_id)
    data = forms.parse(task.form, form)
    try:
        result = tasks.complete(ctx, user, task_id, data)
    except ValidationFailed as exc:
        errors = forms.plain_errors(exc.errors, forms.fields_of(task.form))
        return task_page(ctx, request, user, task_id, data, errors, 422, base)
    except Conflict as exc:  # the page again, with what was typed and who was faster
        return task_page(
            ctx, request, user, task_id, data, {"(form)": plain_words(exc)}, 409, base, kept=True
        )
    follow = result.next_tasks
    target = f"{base}/{follow[0].id}" if follow else done or f"/next?after={task_id}"
    response = RedirectResponse(target, status_code=303)
    key = task.business_key or task.case_id
    flash(ctx, response, f"Done: {task.name or task.element_id} for case {key}.", "ok")
    return response
