"""Serve the app over a fresh SQLite database with demo data and save a screenshot of
every page at 1280x800 to docs/screenshots/ (for the README).

    python scripts/screenshots.py [--out docs/screenshots] [--only NAME ...]

Every GET page route (tagged ``web``) is visited by a demo user whose roles it allows
(read from its ``require_page_role`` dependency), its path parameters filled from the
demo data; routes that are not pages (files, exports, htmx fragments) are left out, and
so is a page whose parameters the script cannot fill (it says which). A few extra shots
show a page in a state worth seeing (a validation problem at its element). Chromium
comes from the system (``/usr/bin/chromium``), as in the browser tests.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi.routing import APIRoute, iter_route_contexts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from retention_flow.api.app import create_app  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.core.errors import RetentionFlowError  # noqa: E402
from retention_flow.db.migrate import upgrade  # noqa: E402
from retention_flow.db.session import create_db_engine  # noqa: E402
from retention_flow.services.cases import lifecycle as cases  # noqa: E402
from retention_flow.services.cases.views import CaseView, TaskView  # noqa: E402
from retention_flow.services.platform import demo, worker  # noqa: E402
from retention_flow.services.platform.context import Actor, AppContext  # noqa: E402
from retention_flow.services.process_models import versions  # noqa: E402
from retention_flow.services.routing import next_task, skills  # noqa: E402
from retention_flow.services.steps.handlers import default_service_handlers  # noqa: E402
from retention_flow.services.tasks import work_items as tasks  # noqa: E402

PASSWORD = "screenshots only"  # noqa: S105 - demo users of a throwaway database
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
#: not pages: raw files, downloads, fragments, form posts' targets
NOT_PAGES = re.compile(
    r"(/files/|/diagram$|\.(json|csv|xml|png|jpg|pdf|ico)$|/rows$|/choices$|^/next$|^/$)"
)
#: readable file names for the pages with parameters
NAMES = {
    "/audit/cases/{case_id}": "auditor-case-history",
    "/audit": "auditor-case-search",
    "/audit/verify": "auditor-verify",
    "/processes": "owner-processes",
    "/processes/{process_id}/{version}": "owner-bpmn-modeler",
    "/processes/{process_id}/{version}/dmn/{name}": "owner-dmn-editor",
    "/processes/{process_id}/compare": "owner-compare-versions",
    "/kpis": "kpi-dashboard",
    "/kpis/scorecard": "kpi-scorecard",
    "/incentives/plan": "owner-incentive-plan",
    "/me": "agent-my-results",
    "/heatmap": "heatmap-versions",
    "/heatmap/{process_id}/{version}": "heatmap-compare-versions",
    "/login": "login",
    "/account": "account",
    "/queue": "agent-queue",
    "/tasks/{task_id}": "agent-task",
    "/team": "team-lead",
    "/skills": "team-lead-skills",
    "/partner": "partner-portal",
    "/partner/leads/{task_id}": "partner-lead",
    "/scans": "back-office-scanning",
    "/scans/{scan_id}": "back-office-scan-result",
    "/settlements": "auditor-settlements",
    "/settlements/{statement_id}": "auditor-settlement",
    "/operations": "ops-incidents",
    "/operations/incidents/{incident_id}": "ops-incident",
    "/operations/retry": "ops-bulk-retry-confirm",
    "/operations/batches/{batch_id}": "ops-bulk-retry-progress",
    "/operations/cases/{case_id}": "ops-case",
    "/operations/signals": "ops-signal",
    "/whatif": "whatif",
}
#: the element each page's own script marks when it is drawn
READY = {
    "/processes/{process_id}/{version}": '#modeler[data-ready="true"]',
    "/processes/{process_id}/{version}/dmn/{name}": '#dmn-editor[data-ready="true"]',
    "/processes/{process_id}/compare": '#viewer[data-ready="true"]',
    "/audit/cases/{case_id}": '#viewer[data-ready="true"]',
    "/operations/cases/{case_id}": '#viewer[data-ready="true"]',
    "/kpis": '#kpi-charts[data-ready="5"]',
    "/heatmap/{process_id}/{version}": 'body[data-heatmap-ready="true"]',
}


@dataclass
class Shot:
    name: str
    user: str | None
    path: str
    ready: str | None = None
    then: Callable[[Any], None] | None = None
    notes: list[str] = field(default_factory=list)


def _settings(db: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db}",
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        secret_key="screenshots-" + "x" * 32,
    )


class ShiftedClock:
    """The system clock moved by ``offset``: the seed writes a history of past days."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


#: who works the tasks of a role in the seeded history (demo users, so KPIs show names)
WORKERS = {
    "telemarketing": ["agent1", "agent2"],
    "inbound": ["agent1", "agent3"],
    "specialist": ["specialist1"],
    "back_office": ["backoffice1", "backoffice2"],
    "team_lead": ["lead1"],
}


def _worker(task: TaskView, rng: random.Random) -> Actor | None:
    if task.role == "partner":
        name = next((n for n, (_r, p) in demo.DEMO_USERS.items() if p == task.partner), None)
    else:
        name = rng.choice(WORKERS.get(task.role, [""]))
    if not name or name not in demo.DEMO_USERS:
        return None
    roles, partner = demo.DEMO_USERS[name]
    return Actor(name, frozenset(roles), partner)


def _work(ctx: AppContext, clock: ShiftedClock, case: CaseView, rng: random.Random) -> None:
    """Claim and complete the case's first task or two, taking a minute or so each."""
    for _ in range(rng.choice((0, 1, 1, 2))):
        if not case.open_tasks:
            return
        task = case.open_tasks[0]
        worker = _worker(task, rng)
        answers = demo.ANSWERS.get(task.element_id)
        if worker is None or not answers:
            return
        clock.offset += timedelta(minutes=rng.randint(2, 90))
        tasks.claim(ctx, worker, task.id)
        clock.offset += timedelta(seconds=rng.randint(25, 110))
        for answer in rng.sample(answers, len(answers)):
            try:
                case = tasks.complete(ctx, worker, task.id, answer).case
                break
            except RetentionFlowError:
                continue
        else:
            return


def seed(ctx: AppContext, clock: ShiftedClock, days: int = 14) -> dict[str, str]:
    """Demo data spread over the last ``days`` days, a second version of the bundle (a
    task renamed, an offer rule changed) and a case an agent has worked; answers the
    path parameters of the page routes."""
    rng = random.Random(7)  # noqa: S311 - reproducible demo data
    clock.offset = -timedelta(days=days)
    demo.seed(
        ctx, processes_dir=ROOT / "processes", customers=400, cases_total=40, password=PASSWORD
    )
    system = Actor("system", frozenset({"system", "agent"}))
    template = cases.list_cases(ctx, process_id="outbound_telemarketing", limit=1)[0][0].data
    mix = list(demo.CASE_MIX)
    number = 0
    for day in range(days - 1, -1, -1):
        if day == days // 2:
            _second_version(ctx)
        for _ in range(rng.randint(4, 9)):
            clock.offset = -timedelta(days=day, hours=rng.randint(0, 8))
            number += 1
            key = f"RC-2026-9{number:05d}"
            data = {**template, "case_number": key, "customer_id": f"C-{900000 + number}"}
            data["churn_risk"] = rng.choice(("high", "medium", "low"))
            data["tenure_months"] = rng.randint(3, 80)
            case = cases.start_case(ctx, system, rng.choice(mix), data, business_key=key)
            _work(ctx, clock, case, rng)
    clock.offset = timedelta(0)
    while worker.fire_timers_once(ctx, "screenshots"):  # what a worker would have fired
        pass
    clock.offset = -timedelta(hours=3)
    data = {**template, "case_number": "RC-2026-DEMO-1"}
    case = cases.start_case(
        ctx, system, "outbound_telemarketing", data, business_key=data["case_number"]
    )
    agent = Actor("agent1", frozenset({"agent", "telemarketing"}))
    task = case.open_tasks[0]
    tasks.claim(ctx, agent, task.id)
    clock.offset += timedelta(seconds=40)
    tasks.complete(ctx, agent, task.id, {"reached": False})
    clock.offset = timedelta(0)
    routed = _routing(ctx, system, agent, template)
    queue = tasks.list_queue(ctx, agent, queue="available", limit=1)
    # a fresh lead for a sales partner: its pages are shown to that partner's user
    scenarios = json.loads((ROOT / "processes" / "retention" / "scenarios.json").read_text())
    lead_data = {**scenarios["bundles"]["sales_partner"]["start_data"]}
    lead_data["case_number"] = "RC-2026-DEMO-2"
    lead_case = cases.start_case(
        ctx, system, "sales_partner", lead_data, business_key="RC-2026-DEMO-2"
    )
    lead = next((t for t in lead_case.open_tasks if t.role == "partner"), None)
    statement_id = _settlement(ctx, scenarios["bundles"]["sales_partner"]["start_data"])
    scan_id, verify_task = _scanned_form(ctx, scenarios["bundles"]["mail_response"]["start_data"])
    exception_scan, exception_task = _exception(
        ctx, scenarios["bundles"]["mail_response"]["start_data"]
    )
    ops = _incidents(ctx, template)
    return {
        **ops,
        "statement_id": statement_id,
        "scan_id": scan_id,
        "verify_task_id": verify_task,
        "exception_scan_id": exception_scan,
        "exception_task_id": exception_task,
        "case_id": case.id,
        "task_id": routed or (queue[0].id if queue else ""),
        "partner_task_id": lead.id if lead else "",
        "partner_user": f"partner_{lead.partner[2:]}" if lead else "",
        "process_id": "outbound_telemarketing",
        "version": "2",
        "name": "offer_eligibility.dmn",
    }


def _routing(ctx: AppContext, system: Actor, agent: Actor, template: dict[str, Any]) -> str:
    """Skills for two agents, a case in French nobody else may take, and offers made by
    "next task" (the lead's review lists them); answers the task offered to ``agent``."""
    lead = Actor("admin1", frozenset({"admin"}))
    skills.set_skill(ctx, lead, "agent1", "language", "fr", 4)
    skills.set_skill(ctx, lead, "agent1", "segment", "vip_at_risk", 3)
    skills.set_skill(ctx, lead, "agent2", "product", "fixed_fibre", 2)
    data = {**template, "case_number": "RC-2026-DEMO-3", "language": "fr"}
    cases.start_case(ctx, system, "outbound_telemarketing", data, business_key="RC-2026-DEMO-3")
    other = Actor("agent2", frozenset({"agent", "telemarketing"}))
    next_task.next_task(ctx, other, claim=False)
    found = next_task.next_task(ctx, agent, claim=False)
    return str(found.task.id) if found.task else ""


def _incidents(ctx: AppContext, template: dict[str, Any]) -> dict[str, str]:
    """Four outbound cases whose data says ``max_attempts: "three"`` (the diagram's first
    script fails on it), one corrected, then a bulk retry run by the worker: one case
    goes on, three fail again. Answers an open incident, its case and the batch."""
    from retention_flow.services.cases import control as case_control
    from retention_flow.services.cases import incident_batches, incidents

    system = Actor("system", frozenset({"system", "agent"}))
    owner = Actor("owner1", frozenset({"process_owner"}))
    started = []
    for n in range(4):
        key = f"RC-2026-INC-{n}"
        data = {**template, "case_number": key, "max_attempts": "three"}
        started.append(
            cases.start_case(ctx, system, "outbound_telemarketing", data, business_key=key)
        )
    reason = "the import wrote the number in words"
    case_control.patch_case_data(ctx, owner, started[0].id, {"max_attempts": 3}, reason)
    filters = {"process_id": "outbound_telemarketing", "element_id": "prepare_outbound"}
    batch = incident_batches.start_batch(ctx, owner, filters, "after the import was fixed")
    worker.run_jobs_once(ctx, "screenshots", worker.default_job_handlers())
    open_ones, _count = incidents.list_incidents(ctx, element_id="prepare_outbound")
    return {
        "incident_id": open_ones[0].id if open_ones else "",
        "incident_case_id": open_ones[0].case_id if open_ones else "",
        "batch_id": str(batch.id),
    }


def _scanned_form(ctx: AppContext, start: dict[str, Any]) -> tuple[str, str]:
    """A mail case's response form with two offers ticked, scanned: a person decides.
    Answers (scan id, the verification task's id); empty without Tesseract."""
    from retention_flow.ocr import FormData, Offer, load_template, render_image
    from retention_flow.ocr.synthetic import fill
    from retention_flow.services.scans import intake as scans

    back = Actor("backoffice1", frozenset({"back_office"}))
    data = {**start, "case_number": "RC-2026-000790-7", "customer_id": "C-300513"}
    case = cases.start_case(ctx, back, "mail_response", data, business_key=data["case_number"])
    data = case.data
    template = load_template(scans.TEMPLATES_DIR / "retention_offer_v1")
    offers = tuple(Offer(c, c.replace("_", " ").title()) for c in data["eligible_offers"])
    blank = render_image(
        template, FormData(data["case_number"], data["customer_name"], ("Street 1",), offers)
    )
    image = fill(blank, template, ticks=(0, 2), date_text="05.01.2026", signed=True)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    try:
        scan = scans.ingest(ctx, back, "response-form.png", buffer.getvalue())
    except RetentionFlowError as exc:  # no OCR engine here: no scan pages
        print(f"no scan: {exc}")
        return "", ""
    queue = tasks.list_queue(ctx, back, queue="available", limit=50)
    verify = next((t for t in queue if t.case_id == case.id), None)
    return str(scan.id), str(verify.id) if verify else ""


def _exception(ctx: AppContext, start: dict[str, Any]) -> tuple[str, str]:
    """A response form whose case number no case carries (a misprint): the page becomes
    a scan exception. Answers (its scan id, the exception task's id); empty without
    Tesseract."""
    from retention_flow.ocr import FormData, Offer, load_template, render_image
    from retention_flow.ocr.synthetic import fill
    from retention_flow.services.outreach import response_forms as forms
    from retention_flow.services.scans import intake as scans

    back = Actor("backoffice1", frozenset({"back_office"}))
    template = load_template(scans.TEMPLATES_DIR / "retention_offer_v1")
    offers = tuple(Offer(c, forms.offer_title(c)) for c in ("UPGRADE_DATA", "LOYALTY_BONUS"))
    blank = render_image(
        template, FormData("RC-2026-999999-9", start["customer_name"], ("Street 1",), offers)
    )
    buffer = io.BytesIO()
    fill(blank, template, ticks=(1,), date_text="07.01.2026", signed=True).save(buffer, "PNG")
    try:
        scan = scans.ingest(ctx, back, "misprinted-form.png", buffer.getvalue())
    except RetentionFlowError as exc:
        print(f"no scan: {exc}")
        return "", ""
    case_id = scan.pages[0].exception_case_id
    open_tasks = cases.get_case(ctx, case_id).open_tasks if case_id else []
    return str(scan.id), str(open_tasks[0].id) if open_tasks else ""


def _settlement(ctx: AppContext, start: dict[str, Any]) -> str:
    """Three partner leads retained and validated by the back office, settled: this
    month's statement of their partner."""
    from retention_flow.services.partners import settlement

    system = Actor("system", frozenset({"system", "agent"}))
    checker = Actor("backoffice2", frozenset({"back_office"}))
    for n in range(3):
        key = f"RC-2026-PAID-{n}"
        case = cases.start_case(
            ctx, system, "sales_partner", {**start, "case_number": key}, business_key=key
        )
        lead = next((t for t in case.open_tasks if t.element_id == "work_lead"), None)
        if lead is None:
            continue
        roles, _org = demo.DEMO_USERS[f"partner_{lead.partner[2:]}"]
        partner = Actor(f"partner_{lead.partner[2:]}", frozenset(roles), lead.partner)
        answer = {"partner_outcome": "retained", "offer_code": "DISCOUNT_10"}
        case = tasks.complete(ctx, partner, lead.id, answer).case
        check = next(t for t in case.open_tasks if t.element_id == "validate_claim")
        tasks.complete(ctx, checker, check.id, {"claim_valid": True})
    period = datetime.now(UTC).strftime("%Y-%m")
    run = settlement.run_settlement(ctx, Actor("backoffice1", frozenset({"back_office"})), period)
    if not run.statements:
        return ""
    statement_id = str(run.statements[0].id)
    settlement.approve_statement(ctx, Actor("admin1", frozenset({"admin"})), statement_id)
    return statement_id


def _second_version(ctx: AppContext) -> None:
    owner = Actor("owner1", frozenset({"process_owner"}))
    dmn = versions.bundle_file(ctx, "outbound_telemarketing", 1, "offer_eligibility.dmn")
    bpmn = versions.bundle_file(ctx, "outbound_telemarketing", 1, "outbound_telemarketing.bpmn")
    edits = {
        "offer_eligibility.dmn": dmn.replace(
            '"NEW_DEVICE"</text></outputEntry>', '"DISCOUNT_20"</text></outputEntry>', 1
        ),
        "outbound_telemarketing.bpmn": bpmn.replace(
            'name="Pick best offer"', 'name="Pick the best offer"'
        ),
    }
    versions.deploy_edit(ctx, owner, "outbound_telemarketing", 1, edits)


def _allowed_roles(route: APIRoute) -> frozenset[str] | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "allowed_roles", None)
        if roles is not None:
            return frozenset(roles)
        stack.extend(dep.dependencies)
    return None


def _user_for(roles: frozenset[str] | None) -> str | None:
    if roles is None:
        return "admin1"
    for name, (user_roles, _partner) in demo.DEMO_USERS.items():
        if roles & set(user_roles):
            return name
    return None


def page_shots(app: Any, ids: dict[str, str]) -> Iterator[Shot]:
    for found in iter_route_contexts(app.routes):
        route = found.route
        if not isinstance(route, APIRoute) or "web" not in (route.tags or []):
            continue
        if "GET" not in (found.methods or ()) or NOT_PAGES.search(found.path):
            continue
        values = dict(ids)
        if found.path.startswith("/partner"):
            values["task_id"] = ids["partner_task_id"]
        if found.path.startswith("/operations/cases/"):
            values["case_id"] = ids["incident_case_id"]
        params = re.findall(r"{(\w+)}", found.path)
        missing = [p for p in params if not values.get(p)]
        name = NAMES.get(found.path) or (
            re.sub(r"[{}]|_id", "", found.path).strip("/").replace("/", "-") or "home"
        )
        if missing:
            print(f"skipped {found.path}: no value for {', '.join(missing)}")
            continue
        user = None if found.path == "/login" else _user_for(_allowed_roles(route))
        if found.path.startswith("/partner"):
            user = ids["partner_user"] or user
        if found.path.startswith("/operations"):
            user = "owner1"
        query = "?old=1&new=2" if found.path.endswith("/compare") else ""
        query = "?compare=1" if found.path == "/heatmap/{process_id}/{version}" else query
        if found.path == "/whatif":  # the demo's cases of today at 10x, with a suggestion
            day = datetime.now(UTC).date().isoformat()
            query = f"?run=true&from={day}&to={day}&volume=10&suggest=true"
        yield Shot(name, user, found.path.format(**values) + query, READY.get(found.path))


def _break_a_gateway(page: Any) -> None:
    page.evaluate(
        """() => {
          const registry = rfModeler.get("elementRegistry");
          const gw = registry.filter(e => e.type === "bpmn:ExclusiveGateway"
            && e.businessObject.default && e.outgoing.length > 1)[0];
          rfModeler.get("modeling").updateProperties(gw, { default: null });
        }"""
    )
    page.click("#validate")
    page.wait_for_selector(".rf-error-badge")


def _show_a_condition(page: Any) -> None:
    """The properties panel on a gateway flow's condition, checked by the server."""
    page.evaluate(
        """() => {
          const registry = rfModeler.get("elementRegistry");
          const flow = registry.filter(e => e.type === "bpmn:SequenceFlow"
            && e.businessObject.conditionExpression)[0];
          rfModeler.get("selection").select(flow);
        }"""
    )
    group = '.bio-properties-panel-group[data-group-id="group-retention"]'
    page.click(f"{group} .bio-properties-panel-group-header")
    field = page.locator("#bio-properties-panel-rf-condition")
    field.fill(field.input_value() + " and __import__")
    page.wait_for_selector(".rf-source-check.rf-bad")


def _mark_a_cell(page: Any) -> None:
    cell = page.locator("#canvas td.output-cell[data-element-id] [contenteditable]").first
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("__import__('os')")
    page.click("#validate")
    page.wait_for_selector("td.rf-error-cell")


def _try_the_table(page: Any) -> None:
    case = {"tenure_months": "52", "monthly_revenue_cents": "5200", "churn_risk": "high"}
    case |= {"product": "mobile_l", "cancellation_reason": "price"}
    for box in page.locator("#dmn-try input[data-variable]").all():
        box.fill(case.get(box.get_attribute("data-variable") or "", ""))
    page.click("#dmn-try button[type=submit]")
    page.wait_for_selector("#dmn-try-result:not(:empty)")
    page.locator("#dmn-try").scroll_into_view_if_needed()


def _bad_correction(page: Any) -> None:
    page.fill("#patch", "max_attempts: 3")
    page.fill("#reason", "the import wrote the number in words")
    page.click("#retry")
    page.wait_for_selector("#patch-error")


def _suspend_form(page: Any) -> None:
    page.click("#action-suspend summary")
    page.fill("#suspend-reason", "customer asked for a pause")
    page.check("#suspend-confirm")


def _send_signal(page: Any) -> None:
    page.fill("#signal-name", "tariff_change")
    page.fill("#signal-data", '{"tariff": "2026-Q2"}')
    page.click("#send-signal")
    page.wait_for_selector("#signal-answer")


def extra_shots(ids: dict[str, str]) -> list[Shot]:
    modeler = f"/processes/{ids['process_id']}/{ids['version']}"
    dmn = f"{modeler}/dmn/{ids['name']}" if ids.get("name") else None
    verify = [Shot("back-office-verification", "backoffice1", f"/tasks/{ids['verify_task_id']}")]
    exception = [
        Shot("back-office-scan-exception", "backoffice1", f"/scans/{ids['exception_scan_id']}"),
        Shot("back-office-exception-task", "backoffice1", f"/tasks/{ids['exception_task_id']}"),
    ]
    ready = '#modeler[data-ready="true"]'
    ops_case = f"/operations/cases/{ids['incident_case_id']}"
    ops = [
        Shot(
            "ops-incident-correction-error",
            "owner1",
            f"/operations/incidents/{ids['incident_id']}",
            then=_bad_correction,
        ),
        Shot(
            "ops-case-suspend",
            "owner1",
            ops_case,
            '#viewer[data-ready="true"]',
            _suspend_form,
        ),
        Shot("ops-signal-sent", "owner1", "/operations/signals", then=_send_signal),
    ]
    shots = verify * bool(ids["verify_task_id"]) + ops * bool(ids["incident_id"])
    shots += exception * bool(ids["exception_task_id"])
    shots += [
        Shot("owner-bpmn-validation-error", "owner1", modeler, ready, _break_a_gateway),
        Shot("owner-bpmn-properties", "owner1", modeler, ready, _show_a_condition),
    ]
    if dmn:
        dmn_ready = '#dmn-editor[data-ready="true"]'
        shots.append(Shot("owner-dmn-cell-error", "owner1", dmn, dmn_ready, _mark_a_cell))
        shots.append(Shot("owner-dmn-try-it", "owner1", dmn, dmn_ready, _try_the_table))
    return shots


@contextmanager
def serve(ctx: AppContext) -> Iterator[tuple[str, Any]]:
    app = create_app(ctx)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def take(browser: Any, url: str, shot: Shot, out: Path) -> bool:
    context = browser.new_context(viewport=VIEWPORT, base_url=url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        if shot.user:
            page.goto("/login")
            page.fill("#username", shot.user)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
        response = page.goto(shot.path)
        if response is None or response.status >= 400 or not page.locator("header.top").count():
            status = response.status if response else "no answer"
            print(f"skipped {shot.path} as {shot.user}: {status}")
            return False
        if shot.ready:
            page.wait_for_selector(shot.ready)
        page.wait_for_load_state("networkidle")
        if shot.then:
            shot.then(page)
        page.screenshot(path=str(out / f"{shot.name}.png"))
        print(f"saved {shot.name}.png  ({shot.user or 'anonymous'}: {shot.path})")
        return True
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", help="file names (without .png) to take")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp) / "screenshots.db")
        engine = create_db_engine(settings.database_url, settings)
        upgrade(engine)
        clock = ShiftedClock()
        ctx = AppContext(
            settings, clock=clock, engine=engine, service_handlers=default_service_handlers()
        )
        print("seeding demo data ...")
        ids = seed(ctx, clock)
        with serve(ctx) as (url, app), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            shots = [*page_shots(app, ids), *extra_shots(ids)]
            taken = [
                s.name
                for s in shots
                if (not args.only or s.name in args.only) and take(browser, url, s, args.out)
            ]
            browser.close()
        ctx.live.clear()
        engine.dispose()
    print(f"{len(taken)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
