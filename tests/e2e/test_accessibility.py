"""Accessibility of every page: axe-core (vendored for the tests, tests/e2e/vendor) finds
no serious or critical violation, and the keyboard reaches the page's controls (Tab moves
the focus through links, buttons and fields, never stuck on the page itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retention_flow.core.errors import RetentionFlowError
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor
from retention_flow.services.scans import intake as scans
from retention_flow.services.tasks import work_items as tasks
from tests.e2e.conftest import PASSWORD, VIEWPORT
from tests.e2e.test_team_partner import LEAD_DATA

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const found = await axe.run(document, {resultTypes: ["violations"]});
  return found.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): " + v.help + " at "
      + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""
#: how many Tab presses a page is walked with, and what may hold the focus
TABS = 6
FOCUSED = (
    "() => { const a = document.activeElement;"
    " return a && a !== document.body ? a.tagName : null; }"
)


SYSTEM = Actor("system", frozenset({"system", "agent"}))


def _scanned_pages(ctx: Any) -> list[str]:
    """A blank page uploaded: its scan page and its exception task (none without OCR)."""
    from tests.scans.conftest import blank_png

    try:
        scan = scans.ingest(
            ctx, Actor("backoffice1", frozenset({"back_office"})), "b.png", blank_png()
        ).model_dump()
    except RetentionFlowError:  # no OCR engine here
        return []
    [page] = scan["pages"]
    [task] = cases.get_case(ctx, page["exception_case_id"]).open_tasks
    return [f"/scans/{scan['id']}", f"/tasks/{task.id}"]


def _pages(ctx: Any) -> dict[str, list[str]]:
    """Per user, the pages to check (objects from the seeded data): every page route whose
    parameters the demo data fills (not: one incident, batch, statement, QA review or
    migration, which their own browser tests open)."""
    agent = Actor("agent1", frozenset({"agent", "telemarketing", "inbound"}))
    task = tasks.list_queue(ctx, agent)[0]
    auditor = Actor("auditor1", frozenset({"auditor"}))
    case = queries.list_cases(ctx, auditor, limit=1)[0][0]
    model = queries.process_models(ctx)[0]
    version = f"/processes/{model['process_id']}/{model['latest_version']}"
    outbound = next(
        m for m in queries.process_models(ctx) if m["process_id"] == "outbound_telemarketing"
    )
    dmn = (
        f"/processes/outbound_telemarketing/{outbound['latest_version']}/dmn/offer_eligibility.dmn"
    )
    lead = cases.start_case(
        ctx, SYSTEM, "sales_partner", {**LEAD_DATA, "case_number": "RC-2026-900002-8"}
    )
    [partner_task] = [t for t in lead.open_tasks if t.role == "partner"]
    assert partner_task.partner is not None
    partner_user = f"partner_{partner_task.partner[2:]}"
    day = datetime.now(UTC).date().isoformat()
    today = f"run=true&from={day}&to={day}&volume=5"
    return {
        "": ["/login"],
        "agent1": [
            "/queue",
            "/queue?role=telemarketing",
            f"/tasks/{task.id}",
            "/account",
            "/me",
        ],
        "lead1": [
            "/team",
            "/team?role=telemarketing",
            "/kpis",
            "/kpis/scorecard",
            "/kpis/definitions",
            "/qa",
            "/heatmap",
            "/skills",
            "/whatif",
            f"/whatif?{today}",
        ],
        "backoffice1": ["/scans", "/queue", *_scanned_pages(ctx)],
        "owner1": [
            "/processes",
            version,
            f"/processes/{model['process_id']}/compare",
            dmn,
            f"/heatmap/{model['process_id']}/{model['latest_version']}",
            "/operations",
            "/operations/retry",
            "/operations/signals",
            f"/operations/cases/{case.id}",
            "/incentives/plan",
        ],
        "auditor1": ["/audit", f"/audit/cases/{case.id}", "/audit/verify", "/settlements"],
        partner_user: ["/partner", f"/partner/leads/{partner_task.id}"],
        "admin1": ["/team", f"/tasks/{task.id}", "/payouts"],
    }


@pytest.fixture
def open_as(browser: Any, live_server: Any) -> Iterator[Callable[[str], Any]]:
    """A tab logged in as a user; CSP bypassed so the test can add axe to the page."""
    contexts: list[Any] = []

    def make(username: str) -> Any:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, bypass_csp=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        tab = context.new_page()
        if username:
            tab.goto("/login")
            tab.fill("#username", username)
            tab.fill("#password", PASSWORD)
            tab.click("button[type=submit]")
            tab.wait_for_load_state()
        return tab

    yield make
    for context in contexts:
        context.close()


def test_every_page_passes_axe_and_the_keyboard(
    open_as: Callable[[str], Any], live_server: Any
) -> None:
    problems: list[str] = []
    for username, paths in _pages(live_server.ctx).items():
        tab = open_as(username)
        for path in paths:
            response = tab.goto(path)
            assert response is not None and response.status == 200, (username, path)
            tab.wait_for_load_state("networkidle")
            tab.add_script_tag(path=str(AXE))
            problems += [f"{username or 'anonymous'} {path}: {v}" for v in tab.evaluate(RUN_AXE)]
            tab.evaluate("document.activeElement && document.activeElement.blur()")
            reached = set()
            for _ in range(TABS):
                tab.keyboard.press("Tab")
                reached.add(tab.evaluate(FOCUSED))
            if not reached - {None}:
                problems.append(f"{username or 'anonymous'} {path}: Tab reaches nothing")
    assert problems == [], "\n".join(problems)
    # the check can fail: an image without a text alternative is a critical violation
    tab = open_as("")
    tab.goto("/login")
    tab.add_script_tag(path=str(AXE))
    tab.evaluate("document.body.appendChild(document.createElement('img')).src = '/x.png'")
    assert any(v.startswith("image-alt") for v in tab.evaluate(RUN_AXE))
