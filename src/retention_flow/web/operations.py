"""The operations pages for process owners and admins: open incidents (filter, counts,
one incident with the case data at failure, retry with a data correction, bulk retry by
filter with confirmation and a progress view of the batch).

A case's control actions and the signal form are in ``operations_cases``. Migrating
running cases is on the compare page of the process owner (``owner``), linked from here.
Every action goes through the same services as the API (``services.incidents``,
``services.incident_batches``), so it is audited with the actor and the reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.cases import incident_batches, incidents
from retention_flow.services.cases.views import IncidentCount, IncidentView
from retention_flow.services.platform.context import Actor, AppContext

from ..core import strict_json
from ..core.errors import Conflict, RetentionFlowError, ValidationFailed
from .errors import plain_words
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

Operator = Annotated[Actor, Depends(require_page_role("process_owner", "admin"))]
IncidentId = Annotated[str, Path(max_length=36)]
BatchId = Annotated[str, Path(max_length=36)]
Text = Annotated[str, Query(max_length=200)]
PAGE_SIZE = 25
FILTER_FIELDS = ("process_id", "version", "element_id", "error_code", "since")
MAX_PATCH = 100_000  # characters of a correction typed into the page


class FilterForm:
    """The list's filter as typed (kept for the form) and as the services take it, with a
    plain sentence per field that does not parse."""

    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = {k: (raw.get(k) or "").strip() for k in FILTER_FIELDS}
        self.errors: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        for key in ("process_id", "element_id", "error_code"):
            if self.raw[key]:
                self.values[key] = self.raw[key]
        if self.raw["version"]:
            try:
                version = int(self.raw["version"])
                if version < 1:
                    raise ValueError
                self.values["version"] = version
            except ValueError:
                self.errors["version"] = "A version is a whole number from 1."
        if self.raw["since"]:
            try:
                since = datetime.fromisoformat(self.raw["since"])
                self.values["since"] = since if since.tzinfo else since.replace(tzinfo=UTC)
            except ValueError:
                self.errors["since"] = "Give a date (2026-03-01) or a time (2026-03-01T08:00), UTC."

    def query(self) -> str:
        return urlencode({k: v for k, v in self.raw.items() if v})


def _query_filter(
    process_id: Text = "",
    version: Text = "",
    element_id: Text = "",
    error_code: Text = "",
    since: Text = "",
) -> FilterForm:
    """The filter from the query string (the list and the bulk-retry confirmation)."""
    return FilterForm(dict(locals()))  # exactly the parameters: FILTER_FIELDS


def _posted_filter(
    process_id: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
    element_id: Annotated[str, Form(max_length=200)] = "",
    error_code: Annotated[str, Form(max_length=100)] = "",
    since: Annotated[str, Form(max_length=40)] = "",
) -> FilterForm:
    """The filter as the confirmation form posts it back."""
    return FilterForm(dict(locals()))  # exactly the parameters: FILTER_FIELDS


QueryFilter = Annotated[FilterForm, Depends(_query_filter)]
PostedFilter = Annotated[FilterForm, Depends(_posted_filter)]


def parse_patch(text: str) -> tuple[dict[str, Any] | None, str]:
    """The correction typed into a text area: (patch or None when empty, error sentence)."""
    text = text.strip()
    if not text:
        return None, ""
    if len(text) > MAX_PATCH:
        return None, f"The correction is longer than {MAX_PATCH:,} characters."
    try:
        value = strict_json.loads(text, "patch")
    except ValidationFailed as exc:  # malformed, NaN, duplicate keys, unsafe integers
        return None, f"This is not valid JSON ({exc.detail})."
    if not isinstance(value, dict):
        return None, 'A correction is a JSON object, like {"divisor": 4}.'
    if not value:
        return None, "The correction is empty: leave the field blank to retry without one."
    return value, ""


def field_errors(exc: ValidationFailed, fields: tuple[str, ...]) -> dict[str, str]:
    """A service's validation errors as one sentence per form field; an error on a data
    key of the correction (``tenure_months``) is shown at the correction field."""
    out: dict[str, str] = {}
    for error in exc.errors or [{"field": fields[0], "message": exc.detail}]:
        name, message = str(error.get("field", "")), str(error.get("message", ""))
        if name == "reason":
            out.setdefault("reason", "Please give a reason (it goes into the case's history).")
        elif name in fields:
            out.setdefault(name, exc.detail[:1].upper() + exc.detail[1:] + ".")
        else:
            out.setdefault(fields[0], f"“{name}”: {message}.")
    return out


@router.get("/operations", response_class=HTMLResponse)
def incident_list(
    request: Request,
    ctx: PageCtx,
    user: Operator,
    form: QueryFilter,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Open incidents newest first, with counts per process, version, element and code."""
    found: list[IncidentView] = []
    groups: list[IncidentCount] = []
    count = 0
    if not form.errors:
        found, count = incidents.list_incidents(
            ctx, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **form.values
        )
        groups = incidents.incident_counts(ctx, **form.values)
    context = {
        "incidents": found,
        "count": count,
        "groups": groups,
        "form": form,
        "page": page,
        "pages": max(1, -(-count // PAGE_SIZE)),
    }
    status = 422 if form.errors else 200
    return render(ctx, request, "ops_incidents.html", context, user=user, status_code=status)


def _incident_page(
    ctx: AppContext,
    request: Request,
    user: Actor,
    incident_id: str,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    found = incidents.get_incident(ctx, incident_id)
    context = {
        "incident": found,
        "data_json": json.dumps(found.data, indent=2, sort_keys=True, ensure_ascii=False),
        "typed": typed or {"patch": "", "reason": ""},
        "errors": errors or {},
    }
    return render(ctx, request, "ops_incident.html", context, user=user, status_code=status)


@router.get("/operations/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    request: Request, ctx: PageCtx, user: Operator, incident_id: IncidentId
) -> Response:
    return _incident_page(ctx, request, user, incident_id)


@router.post("/operations/incidents/{incident_id}/retry")
def retry(
    request: Request,
    ctx: PageCtx,
    user: Operator,
    incident_id: IncidentId,
    patch: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Retry after merging the optional correction; errors come back next to the field
    with what was typed, success leads to the case's operations page."""
    typed = {"patch": patch, "reason": reason}
    correction, problem = parse_patch(patch)
    errors = {"patch": problem} if problem else {}
    if correction is not None and not reason.strip():
        errors["reason"] = "Please give a reason for the correction (it goes into the history)."
    if errors:
        return _incident_page(ctx, request, user, incident_id, typed, errors, 422)
    try:
        case = incidents.retry_incident(ctx, user, incident_id, correction, reason.strip() or None)
    except ValidationFailed as exc:
        errors = field_errors(exc, ("patch", "reason"))
        return _incident_page(ctx, request, user, incident_id, typed, errors, 422)
    except Conflict as exc:  # retried meanwhile, suspended, changed
        response = RedirectResponse(f"/operations/incidents/{incident_id}", status_code=303)
        flash(ctx, response, f"Not retried: {plain_words(exc)} ({exc.detail})", "error")
        return response
    response = RedirectResponse(f"/operations/cases/{case.id}", status_code=303)
    if case.status == "incident":
        text = "Retried, but the step failed again: a new incident is open (see below)."
        flash(ctx, response, text, "warn")
    else:
        flash(ctx, response, f"Retried: the case went on and is {case.status}.", "ok")
    return response


@router.get("/operations/retry", response_class=HTMLResponse)
def bulk_confirm(request: Request, ctx: PageCtx, user: Operator, form: QueryFilter) -> Response:
    """What a bulk retry by this filter would retry, and the form to confirm it."""
    return _confirm_page(ctx, request, user, form, "", {})


def _confirm_page(
    ctx: AppContext,
    request: Request,
    user: Actor,
    form: FilterForm,
    reason: str,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    matched = 0 if form.errors else incidents.list_incidents(ctx, limit=1, **form.values)[1]
    context = {"form": form, "matched": matched, "reason": reason, "errors": errors}
    status = 422 if form.errors else status
    return render(ctx, request, "ops_bulk_confirm.html", context, user=user, status_code=status)


@router.post("/operations/retry")
def bulk_retry(
    request: Request,
    ctx: PageCtx,
    user: Operator,
    form: PostedFilter,
    reason: Annotated[str, Form(max_length=4000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Start the bulk retry (a worker job) once confirmed; show its progress."""
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = "Please give a reason (it goes into every case's history)."
    if confirm != "yes":
        errors["confirm"] = "Tick the box to confirm the retry of these incidents."
    if errors or form.errors:
        return _confirm_page(ctx, request, user, form, reason, errors, 422)
    try:
        batch = incident_batches.start_batch(ctx, user, form.values, reason)
    except RetentionFlowError as exc:
        return _confirm_page(ctx, request, user, form, reason, {"reason": plain_words(exc)}, 422)
    return RedirectResponse(f"/operations/batches/{batch.id}", status_code=303)


@router.get("/operations/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, ctx: PageCtx, user: Operator, batch_id: BatchId) -> Response:
    """A bulk retry's progress (the counters refresh through htmx until it is done)."""
    context = {"batch": incident_batches.get_batch(ctx, batch_id)}
    template = "_ops_batch.html" if request.headers.get("hx-request") else "ops_batch.html"
    return render(ctx, request, template, context, user=user)
