"""The auditor's pages: case search, a case's history (timeline of audit events and the
diagram with where the case has been), the audit-chain check, exports as JSON and CSV.
Read-only: nothing here changes a case."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from retention_flow.services.cases import history as case_history
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor
from retention_flow.services.process_models import deployments as processes

from ..core import strict_json
from .dashboard import day_start, parse_day
from .session import PageCtx, page_router, require_page_role
from .templating import render

router = page_router()

Auditor = Annotated[Actor, Depends(require_page_role("auditor"))]
CaseId = Annotated[str, Path(max_length=36)]
Text = Annotated[str, Query(max_length=200)]
PAGE_SIZE = 50
STATUSES = ("active", "completed", "cancelled", "incident")


def _visible_case(ctx: Any, user: Actor, case_id: str) -> str:
    queries.check_case_visible(ctx, user, case_id)
    return case_id


@router.get("/audit", response_class=HTMLResponse)
def case_search(
    request: Request,
    ctx: PageCtx,
    user: Auditor,
    business_key: Text = "",
    customer: Text = "",
    status: Literal["", "active", "completed", "cancelled", "incident"] = "",
    channel: Text = "",
    date_from: Text = "",
    date_to: Text = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Cases newest first; ``date_to`` is inclusive (the whole day). The business key and
    the customer (id or name) match any part, in any case; so does the channel's case."""
    since, until = parse_day(date_from, "date_from"), parse_day(date_to, "date_to")
    found, count = queries.list_cases(
        ctx,
        user,
        business_key=business_key.strip() or None,
        customer=customer.strip() or None,
        status=status or None,
        channel=channel.strip() or None,
        created_from=day_start(since) if since else None,
        created_to=day_start(until + timedelta(days=1)) if until else None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        partial=True,
    )
    form = {
        "business_key": business_key,
        "customer": customer,
        "status": status,
        "channel": channel,
        "date_from": date_from,
        "date_to": date_to,
    }
    context = {
        "cases": found,
        "count": count,
        "form": form,
        "statuses": STATUSES,
        "page": page,
        "pages": max(1, -(-count // PAGE_SIZE)),
    }
    return render(ctx, request, "audit_cases.html", context, user=user)


@router.get("/audit/verify", response_class=HTMLResponse)
def verify_all(request: Request, ctx: PageCtx, user: Auditor) -> Response:
    """Walk every hash chain (all cases and the system stream)."""
    return render(
        ctx, request, "audit_verify.html", {"result": queries.verify_audit(ctx)}, user=user
    )


@router.get("/audit/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, ctx: PageCtx, user: Auditor, case_id: CaseId) -> Response:
    found = case_history.case_history(ctx, _visible_case(ctx, user, case_id))
    context = {
        "case": found.case,
        "verify": found.verify,
        "events": found.events,
        "marks": found.marks.model_dump(),
    }
    return render(ctx, request, "audit_case.html", context, user=user)


@router.get("/audit/cases/{case_id}/diagram")
def case_diagram(ctx: PageCtx, user: Auditor, case_id: CaseId) -> Response:
    """The BPMN of the version the case runs on."""
    case = cases.get_case(ctx, _visible_case(ctx, user, case_id))
    xml = processes.version_xml(ctx, case.process_id, case.process_version)
    return Response(xml, media_type="application/xml")


def _download_name(case: CaseView, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", case.business_key or case.id)
    return f'attachment; filename="case-{stem}-history.{suffix}"'


@router.get("/audit/cases/{case_id}/history.json")
def export_json(ctx: PageCtx, user: Auditor, case_id: CaseId) -> Response:
    document = case_history.export(ctx, _visible_case(ctx, user, case_id))
    disposition = _download_name(document.case, "json")
    return Response(
        strict_json.render(document.model_dump(mode="json")),
        media_type="application/json",
        headers={"Content-Disposition": disposition},
    )


@router.get("/audit/cases/{case_id}/history.csv")
def export_csv(ctx: PageCtx, user: Auditor, case_id: CaseId) -> Response:
    case_id = _visible_case(ctx, user, case_id)
    case = cases.get_case(ctx, case_id)
    return Response(
        case_history.export_csv(ctx, case_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _download_name(case, "csv")},
    )
