"""QA reviews and payouts in a real browser: a reviewer scores a sampled case and the
agent's own scorecard changes; whoever ran a payout statement cannot approve it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from retention_flow.db.session import write_session
from retention_flow.db.tables import DEPLOYMENT
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.e2e.conftest import PASSWORD

SCENARIOS = Path(__file__).resolve().parents[2] / "processes" / "retention" / "scenarios.json"
SYSTEM = Actor("system", frozenset({"system", "agent", "telemarketing"}))
AGENT2 = Actor("agent2", frozenset({"agent", "telemarketing"}))


def _closed_case_of_agent2(ctx: AppContext) -> CaseView:
    """An outbound case agent2 called and retained just now."""
    start = json.loads(SCENARIOS.read_text())["bundles"]["outbound_telemarketing"]["start_data"]
    case = cases.start_case(
        ctx, SYSTEM, "outbound_telemarketing", {**start, "case_number": "RC-QA-1"}
    )
    call = next(t for t in case.open_tasks if t.element_id == "call_customer")
    done = tasks.complete(ctx, AGENT2, call.id, {"reached": True, "call_outcome": "accepted"})
    assert done.case.outcome == "retained"
    return case


def _month(ctx: AppContext) -> str:
    now = ctx.now()
    return f"{now.year}-{now.month:02d}"


def test_a_reviewer_scores_a_sampled_case_and_the_agents_scorecard_changes(
    page: Any, login_as: Any, live_server: Any
) -> None:
    ctx = live_server.ctx
    _closed_case_of_agent2(ctx)
    users.add_user(ctx, "qa1", PASSWORD, ["qa"])
    login_as(page, "agent2")
    page.goto("/me")
    before = page.locator("#my-scorecard tr[data-kpi='quality'] td").nth(1).inner_text()
    assert before == "no data"
    score_before = page.locator("#my-score").inner_text()
    page.context.clear_cookies()

    login_as(page, "lead1")
    page.goto("/qa")
    page.fill("#period", _month(ctx))
    page.click("#draw")
    assert page.get_by_text("reviews to do").is_visible()
    page.context.clear_cookies()

    login_as(page, "qa1")
    page.goto("/qa")
    row = page.locator("#qa-reviews tr", has_text="agent2").first
    row.get_by_role("link", name="Review").click()
    for legend in ("Greeted", "Verified", "Understood", "Recorded"):
        page.get_by_role("group", name=legend).get_by_label("Yes").check()
    for legend in ("Explained", "No pressure"):
        page.get_by_role("group", name=legend).get_by_label("No", exact=True).check()
    page.click("text=Save the review")
    assert page.get_by_text("Review saved: score 67 %").is_visible()
    page.context.clear_cookies()

    login_as(page, "agent2")
    page.goto("/me")
    quality = page.locator("#my-scorecard tr[data-kpi='quality'] td").nth(1).inner_text()
    assert quality == "0.666667"
    assert float(page.locator("#my-score").inner_text()) < float(score_before)
    assert "67 %" in page.locator("#my-reviews").inner_text()


def test_a_payout_statement_cannot_be_approved_by_whoever_ran_it(
    page: Any, login_as: Any, live_server: Any
) -> None:
    ctx = live_server.ctx
    _closed_case_of_agent2(ctx)
    with write_session(ctx.db) as session:  # the plan was deployed last month
        session.execute(update(DEPLOYMENT).values(deployed_at=ctx.now() - timedelta(days=40)))
        session.commit()
    login_as(page, "lead1")
    page.goto(f"/payouts?period={_month(ctx)}")
    page.click("#run")
    assert "statements of" in page.locator(".flash-ok").inner_text()
    page.locator("#payout-table tr[data-agent='agent2']").get_by_role("link", name="Open").click()
    page.click("#approve")
    notice = page.get_by_text("someone else must approve it")
    assert notice.is_visible() and "four eyes: lead1 ran payout statement" in notice.inner_text()
    assert page.locator("#payout-status").inner_text() == "draft"
    url = page.url
    page.context.clear_cookies()

    login_as(page, "admin1")
    page.goto(url)
    page.click("#approve")
    assert page.get_by_text("Approved and frozen with hash").is_visible()
    assert page.locator("#payout-status").inner_text() == "approved"


def test_a_process_owner_edits_the_incentive_plan_in_the_browser(
    page: Any, login_as: Any, live_server: Any
) -> None:
    ctx = live_server.ctx
    login_as(page, "owner1")
    page.goto("/processes")
    page.click("#plan-link")
    assert page.locator("#plan-now tr[data-kpi='retention_rate']").is_visible()
    plan = json.loads(page.input_value("#plan"))
    plan["money_per_point_cents"] = 999
    page.fill("#plan", json.dumps(plan, indent=2))
    page.click("#save-plan")
    flash = page.locator(".flash-ok").inner_text()
    now = ctx.now()
    following = f"{now.year + now.month // 12}-{now.month % 12 + 1:02d}"
    assert f"the plan applies from {following}" in flash
    assert "999" in page.input_value("#plan")
    assert page.locator("#plan-history tbody tr").count() == 2

    broken = dict(plan, money_per_point_cents=-1)
    page.fill("#plan", json.dumps(broken))
    page.click("#save-plan")
    assert "plan.money_per_point_cents" in page.locator("#plan-problems").inner_text()
    assert page.locator("#plan-history tbody tr").count() == 2
