"""The authorisation matrix: every route of the app by every persona, end to end.

Routes are read from the app itself, so a route added without a rule here fails the
suite. Each request runs against a fresh case allocated to partner organisation ``acme``
(its first task, ``call_customer``, belongs to the ``telemarketing`` lane):

- ``A`` allowed: anything but 401/403 and a hiding 404 (a 404/409/422 from the service
  about the request itself still means the door was open);
- ``D`` denied: 403, or 401 for the anonymous caller;
- ``H`` hidden: 404 ``not_found``, the answer for another partner organisation's objects.
"""

from __future__ import annotations

import io
import uuid
from datetime import date
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import insert, select, update

from retention_flow.api.app import create_app
from retention_flow.db.session import write_session
from retention_flow.db.tables import (
    CASE_MIGRATION,
    DEPLOYMENT,
    PAYOUT_STATEMENT,
    QA_REVIEW,
    SCAN_PAGE,
    SETTLEMENT_STATEMENT,
)
from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import incident_batches, incidents
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.scans import intake as scans
from retention_flow.services.tasks import work_items as tasks
from tests.api.conftest import PASSWORD
from tests.factories import actor, bundle_files, deploy

PERSONAS = (
    "agent",
    "team_lead",
    "back_office",
    "partner",
    "partner2",
    "process_owner",
    "auditor",
    "admin",
    "system",
    "anonymous",
)
OPS = dict.fromkeys(PERSONAS, "A")


def _rule(allowed: str = "", hidden: str = "") -> dict[str, str]:
    """Personas (space separated) allowed / hidden; everyone else is denied."""
    out = dict.fromkeys(PERSONAS, "D")
    out.update(dict.fromkeys(allowed.split(), "A"))
    out.update(dict.fromkeys(hidden.split(), "H"))
    return out


USERS = "agent team_lead back_office partner partner2 process_owner auditor admin system"
EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/openapi.json"): OPS,
    ("GET", "/docs"): OPS,
    ("GET", "/docs/oauth2-redirect"): OPS,
    ("GET", "/redoc"): OPS,
    ("GET", "/health"): OPS,
    ("GET", "/ready"): OPS,
    # the metrics token is not set here: an admin's or a system user's token opens them
    ("GET", "/metrics"): _rule("admin system"),
    ("POST", "/api/auth/token"): OPS,
    ("POST", "/api/auth/logout"): _rule(USERS),
    ("GET", "/api/me"): _rule(USERS),
    ("GET", "/api/processes"): _rule("process_owner auditor"),
    ("POST", "/api/processes/validate"): _rule("process_owner"),
    ("POST", "/api/processes"): _rule("process_owner"),
    ("GET", "/api/processes/{process_id}/versions/{version}"): _rule("process_owner auditor"),
    ("GET", "/api/processes/{process_id}/versions/{version}/heatmap"): _rule(
        "process_owner auditor team_lead"
    ),
    ("POST", "/api/whatif"): _rule("team_lead process_owner"),
    ("POST", "/api/cases"): _rule("agent back_office system"),
    ("GET", "/api/cases"): _rule("agent team_lead auditor partner partner2"),
    ("GET", "/api/cases/{case_id}"): _rule(
        "agent team_lead back_office auditor partner system", hidden="partner2"
    ),
    ("GET", "/api/cases/{case_id}/history"): _rule("auditor team_lead"),
    # case control: process owners and admins (cancel also team leads); partners never
    ("POST", "/api/cases/{case_id}/cancel"): _rule("process_owner admin team_lead"),
    ("POST", "/api/cases/{case_id}/suspend"): _rule("process_owner admin"),
    ("POST", "/api/cases/{case_id}/resume"): _rule("process_owner admin"),
    ("PATCH", "/api/cases/{case_id}/data"): _rule("process_owner admin"),
    ("GET", "/api/incidents"): _rule("process_owner admin auditor"),
    ("GET", "/api/incidents/{incident_id}"): _rule("process_owner admin auditor"),
    ("POST", "/api/incidents/{incident_id}/retry"): _rule("process_owner admin"),
    ("POST", "/api/incidents/retry"): _rule("process_owner admin"),
    ("GET", "/api/incidents/retry/{batch_id}"): _rule("process_owner admin auditor"),
    ("POST", "/api/messages/{message_name}"): _rule("back_office system"),
    ("POST", "/api/signals/{name}"): _rule("process_owner admin system"),
    ("GET", "/api/tasks"): _rule("agent team_lead back_office partner partner2"),
    # lane role telemarketing: the back office and the partner do not see it; an admin
    # reads what it may assign
    ("GET", "/api/tasks/{task_id}"): _rule(
        "agent team_lead auditor admin", hidden="back_office partner partner2"
    ),
    # a task one cannot see is 404 for every operation, like GET (never 403 or 409)
    ("POST", "/api/tasks/{task_id}/claim"): _rule("agent", hidden="back_office partner partner2"),
    # claimed by 'agent' first: the claimant or a team lead gives it back
    ("POST", "/api/tasks/{task_id}/unclaim"): _rule(
        "agent team_lead", hidden="back_office partner partner2"
    ),
    ("POST", "/api/tasks/{task_id}/assign"): _rule("team_lead admin"),
    ("POST", "/api/tasks/{task_id}/complete"): _rule(
        "agent", hidden="back_office partner partner2"
    ),
    ("POST", "/api/tasks/next"): _rule("agent team_lead back_office partner partner2"),
    ("GET", "/api/skills"): _rule("agent team_lead back_office partner partner2 admin"),
    ("PUT", "/api/skills/{username}/{kind}/{value}"): _rule("team_lead admin"),
    ("DELETE", "/api/skills/{username}/{kind}/{value}"): _rule("team_lead admin"),
    ("GET", "/api/routing/offers"): _rule("team_lead admin auditor"),
    # no retention bundle deployed here: 422 past the door
    ("POST", "/api/cases/at-risk"): _rule("agent back_office system"),
    ("GET", "/api/audit/verify"): _rule("auditor"),
    ("GET", "/api/audit/checkpoints"): _rule("auditor"),
    ("GET", "/api/audit/keys"): _rule("auditor"),
    ("GET", "/api/partners"): _rule("admin back_office"),
    ("POST", "/api/partners"): _rule("admin back_office"),
    ("POST", "/api/partners/allocate"): _rule("admin back_office"),
    ("GET", "/api/partners/settlements"): _rule("admin back_office auditor"),
    ("POST", "/api/partners/settlements/run"): _rule("admin back_office"),
    ("GET", "/api/partners/settlements/{statement_id}"): _rule("admin back_office auditor"),
    ("POST", "/api/partners/settlements/{statement_id}/approve"): _rule("admin back_office"),
    ("GET", "/api/partners/settlements/{statement_id}/export"): _rule("admin back_office auditor"),
    ("GET", "/api/kpis"): _rule("team_lead auditor process_owner"),
    ("GET", "/api/kpis/scorecard"): _rule("team_lead auditor process_owner"),
    ("POST", "/api/migrations"): _rule("process_owner admin"),
    ("GET", "/api/migrations/{migration_id}"): _rule("process_owner admin"),
    ("POST", "/api/cases/{case_id}/migrate"): _rule("process_owner admin"),
    ("POST", "/api/cases/{case_id}/move"): _rule("process_owner admin"),
    ("GET", "/api/kpis/definitions"): _rule("team_lead auditor process_owner"),
    ("POST", "/api/qa/samples"): _rule("team_lead admin process_owner"),
    ("GET", "/api/qa/reviews"): _rule("agent team_lead auditor admin process_owner"),
    ("GET", "/api/qa/reviews/{review_id}"): _rule(
        "team_lead auditor admin process_owner", hidden="agent"
    ),
    ("POST", "/api/qa/reviews/{review_id}"): _rule(""),  # the qa role only
    ("GET", "/api/qa/agreement"): _rule("agent team_lead auditor admin process_owner"),
    ("POST", "/api/payouts/run"): _rule("team_lead back_office admin"),
    ("GET", "/api/payouts"): _rule("agent team_lead back_office admin"),
    ("GET", "/api/payouts/export"): _rule("team_lead back_office admin"),
    ("GET", "/api/payouts/{statement_id}"): _rule("team_lead back_office admin", hidden="agent"),
    ("POST", "/api/payouts/{statement_id}/approve"): _rule("team_lead back_office admin"),
    ("POST", "/api/payouts/{statement_id}/corrections"): _rule("team_lead back_office admin"),
    ("POST", "/api/scans"): _rule("back_office"),
    ("GET", "/api/scans/{scan_id}"): _rule("back_office auditor"),
    ("GET", "/api/scans/{scan_id}/pages/{page_no}/image"): _rule("back_office auditor"),
    ("POST", "/api/scans/{scan_id}/pages/{page_no}/resolve"): _rule("back_office"),
    ("GET", "/api/scans/{scan_id}/pages/{page_no}/fields/{field}/crop"): _rule(
        "back_office auditor"
    ),
}


def app_routes() -> list[tuple[str, str]]:
    """The app's routes except the web pages (tagged ``web``): tests/web/test_page_matrix.py
    holds their rules, with the page answers (login redirect, 403 page, 404 page)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(create_app().routes):
        if "web" in (getattr(route, "tags", None) or ()):
            continue
        for method in route.methods or ():
            assert route.path is not None, route
            if method != "HEAD":
                found.add((method, route.path))
    return sorted(found)


ROUTES = app_routes()


def test_every_rule_names_a_route() -> None:
    assert sorted(set(EXPECTED) - set(ROUTES)) == []


def _request(
    client: TestClient, method: str, path: str, persona: str, ids: dict[str, str], auth: Any
) -> Any:
    url = path.format(
        case_id=ids["case_id"],
        task_id=ids["task_id"],
        process_id="three_steps",
        version=1,
        message_name="response_form_received",
        name="matrix_signal",
        scan_id=ids.get("scan_id", "none"),
        statement_id=ids.get("statement_id", "none"),
        incident_id=ids.get("incident_id", "none"),
        batch_id=ids.get("batch_id", "none"),
        migration_id=ids.get("migration_id", "none"),
        review_id=ids.get("review_id", "none"),
        page_no=1,
        field="case_number",
        username="agent",
        kind="language",
        value="fr",
    )
    kwargs: dict[str, Any] = {"headers": auth}
    if path == "/api/auth/token":
        # anyone may reach it: the anonymous caller logs in as 'agent'
        name = "agent" if persona == "anonymous" else persona
        kwargs["data"] = {"username": name, "password": PASSWORD}
    elif path.startswith("/api/processes") and method == "POST":
        kwargs["files"] = [
            ("files", (n, b, "text/xml")) for n, b in bundle_files("three_steps").items()
        ]
    elif path == "/api/cases/at-risk":
        kwargs["json"] = {"data": {"customer_id": "C-1"}}
    elif path == "/api/cases" and method == "POST":
        kwargs["json"] = {"process_id": "three_steps", "data": {}}
    elif path.startswith("/api/signals"):
        kwargs["json"] = {"data": {}}
    elif path.startswith("/api/messages"):
        kwargs["json"] = {"correlation": {"case_id": ids["case_id"]}, "data": {}}
    elif path == "/api/scans" and method == "POST":
        # not an image: answered as an unreadable scan, no OCR engine needed
        kwargs["files"] = [("files", ("junk.bin", b"junk", "application/octet-stream"))]
    elif path.endswith("/resolve"):
        kwargs["json"] = {"decision": "discard", "reason": "matrix"}
    elif path.endswith(("/cancel", "/suspend")) or path == "/api/incidents/retry":
        kwargs["json"] = {"reason": "matrix"}
    elif path.endswith("/data"):
        kwargs["json"] = {"patch": {"matrix": 1}, "reason": "matrix"}
    elif path == "/api/migrations":  # the same version twice: 422 past the door
        kwargs["json"] = {"process_id": "three_steps", "from_version": 1, "to_version": 1}
    elif path.endswith("/migrate"):  # the case's own version: 422
        kwargs["json"] = {"to_version": 1, "reason": "matrix"}
    elif path.endswith("/move"):  # no token there: 422
        kwargs["json"] = {"cancel": ["nowhere"], "reason": "matrix"}
    elif path.startswith("/api/skills/") and method == "PUT":
        kwargs["json"] = {"proficiency": 3}
    elif path.endswith("/assign"):
        kwargs["json"] = {"assignee": "agent", "reason": "matrix"}
    elif path.endswith("/complete"):
        kwargs["json"] = {"data": {"call_result": "reached"}}
    return client.request(method, url, **kwargs)


def _draft_statement(ctx: AppContext) -> str:
    """An empty draft settlement statement (approving it twice answers 409: still "A")."""
    statement_id = str(uuid.uuid4())
    with write_session(ctx.db) as session:
        session.execute(
            insert(SETTLEMENT_STATEMENT).values(
                id=statement_id,
                partner_id="acme",
                period="2026-01",
                period_start=date(2026, 1, 1),
                period_end=date(2026, 2, 1),
                seq=1,
                status="draft",
                created_by="matrix",
                created_at=ctx.now(),
            )
        )
        session.commit()
    return statement_id


def _incident(ctx: AppContext) -> str:
    """An open incident: a case of a version whose script fails, partner 'acme'."""
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(b"score = 42", b"score = 1 // d")
    processes.deploy(ctx, files, actor("olga", "process_owner"))
    case = cases.start_case(
        ctx,
        actor("starter", "agent"),
        "three_steps",
        {"d": 0, "allocated_partner": "acme"},
        version=2,
    )
    [incident] = incidents.list_incidents(ctx, process_id="three_steps")[0][:1]
    assert incident.case_id == case.id
    return str(incident.id)


def _batch(ctx: AppContext) -> str:
    return str(incident_batches.start_batch(ctx, actor("olga", "process_owner"), {}, "matrix").id)


def _empty_migration(ctx: AppContext) -> str:
    """A recorded migration with no cases (its progress answers 200)."""
    migration_id = str(uuid.uuid4())
    with write_session(ctx.db) as session:
        session.execute(
            insert(CASE_MIGRATION).values(
                id=migration_id,
                process_id="three_steps",
                from_version=1,
                to_version=1,
                from_deployment_id="none",
                to_deployment_id="none",
                mapping={},
                data_defaults={},
                case_filter={},
                reason="matrix",
                created_by="matrix",
                created_at=ctx.now(),
                total=0,
            )
        )
        session.commit()
    return migration_id


def _draft_payout(ctx: AppContext) -> str:
    """A draft payout statement run by someone else (a second approval answers 409)."""
    statement_id = str(uuid.uuid4())
    with write_session(ctx.db) as session:
        session.execute(
            insert(PAYOUT_STATEMENT).values(
                id=statement_id,
                period="2026-01",
                agent="starter",
                kind="statement",
                plan_deployment_id="none",
                plan_hash="0" * 64,
                plan={},
                components=[],
                points=0.0,
                amount_cents=0,
                status="draft",
                created_by="matrix",
                created_at=ctx.now(),
            )
        )
        session.commit()
    return statement_id


def _qa_review(ctx: AppContext, case_id: str) -> str:
    """An open review of a case of 'starter' by a reviewer who is none of the personas,
    with a form of the deployed bundle as its checklist."""
    review_id = str(uuid.uuid4())
    with write_session(ctx.db) as session:
        deployment_id, files = session.execute(select(DEPLOYMENT.c.id, DEPLOYMENT.c.files)).one()
        form = next(name for name in files if name.endswith(".schema.json"))
        session.execute(
            insert(QA_REVIEW).values(
                id=review_id,
                sample_id=review_id,
                period="2026-01",
                case_id=case_id,
                case_ended_at=ctx.now(),
                agent="starter",
                stratum="all",
                reviewer="reviewer",
                state="open",
                form=form,
                deployment_id=deployment_id,
                created_by="matrix",
                created_at=ctx.now(),
            )
        )
        session.commit()
    return review_id


def _stored_scan(ctx: AppContext) -> str:
    """A scan with one stored (queued) page image: no OCR engine needed to reach it."""
    buffer = io.BytesIO()
    Image.new("L", (40, 40), 255).save(buffer, "PNG")
    claimed = scans._claim(
        ctx, actor("scanner", "back_office"), "0" * 64, "p.png", [buffer.getvalue()]
    )
    assert claimed is not None
    with write_session(ctx.db) as session:  # one field read, with its box on the page
        session.execute(
            update(SCAN_PAGE)
            .where(SCAN_PAGE.c.scan_id == claimed)
            .values(fields=[{"name": "case_number", "box": [2, 2, 20, 12]}])
        )
        session.commit()
    return claimed


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_authorisation(
    ctx: AppContext, client: TestClient, headers: dict[str, dict[str, str]], method: str, path: str
) -> None:
    rule = EXPECTED.get((method, path))
    assert rule is not None, f"{method} {path} has no rule in the authorisation matrix"
    deploy(ctx, "three_steps")
    starter = actor("starter", "agent", "telemarketing")
    wrong: list[str] = []
    scan_id = _stored_scan(ctx)
    batch_id = _batch(ctx) if "{batch_id}" in path else None
    incident_id = _incident(ctx) if "{incident_id}" in path else None
    migration_id = _empty_migration(ctx) if "{migration_id}" in path else None
    statement_id = None
    if "{statement_id}" in path:
        payout = path.startswith("/api/payouts")
        statement_id = _draft_payout(ctx) if payout else _draft_statement(ctx)
    for persona in PERSONAS:
        case = cases.start_case(
            ctx, starter, "three_steps", {"allocated_partner": "acme"}, version=1
        )
        ids = {"case_id": case.id, "task_id": case.open_tasks[0].id, "scan_id": scan_id}
        if statement_id:
            ids["statement_id"] = statement_id
        if batch_id:
            ids["batch_id"] = batch_id
        if incident_id:  # retried by the first allowed persona: then 409, still "A"
            ids["incident_id"] = incident_id
        if path.endswith("/resume"):  # a suspended case to resume
            case_control.suspend_case(ctx, actor("olga", "process_owner"), case.id, "matrix")
        if migration_id:
            ids["migration_id"] = migration_id
        if "{review_id}" in path:
            ids["review_id"] = _qa_review(ctx, case.id)
        if path.endswith("/unclaim"):
            tasks.claim(ctx, actor("agent", "agent", "telemarketing"), ids["task_id"])
        response = _request(client, method, path, persona, ids, headers[persona])
        status = response.status_code
        code = (
            response.json().get("code")
            if response.headers.get("content-type", "").split(";")[0]
            in ("application/json", "application/problem+json")
            else None
        )
        if status in (401, 403):
            outcome = "D"
        elif status == 404 and code == "not_found":
            outcome = "H"
        else:
            outcome = "A"
        assert status < 500, f"{persona}: {response.text}"
        if persona == "anonymous" and outcome == "D":
            assert status == 401
        if outcome != rule[persona]:
            wrong.append(f"{persona}: expected {rule[persona]}, got {status} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
