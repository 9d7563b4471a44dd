"""The team lead's overview and reassigning; the partner portal and its isolation."""

from __future__ import annotations

from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor
from retention_flow.services.tasks import work_items as tasks

pytestmark = pytest.mark.browser

SYSTEM = Actor("system", frozenset({"system", "agent"}))
TELEMARKETING = Actor("agent2", frozenset({"agent", "telemarketing"}))
LEAD_DATA = {
    # not in the demo customer register (which would show its own name for the id)
    "customer_id": "C-900001",
    "customer_name": "Jonas Becker",
    "case_number": "RC-2026-900001-1",
    "tenure_months": 40,
    "monthly_revenue_cents": 4500,
    "contract_end": "2027-01-31",
    "churn_risk": "medium",  # three of the five offers: UPGRADE_DATA, DISCOUNT_10, LOYALTY
    "product": "mobile_m",
    "region": "north",
    "contract_age_months": 30,
}


def test_a_team_lead_sees_the_queues_and_reassigns_a_task(
    page: Any, login_as: Any, live_server: Any
) -> None:
    task = tasks.list_queue(live_server.ctx, TELEMARKETING)[0]
    login_as(page, "lead1")
    page.goto("/team?role=telemarketing")
    assert page.get_by_role("heading", name="Queues").is_visible()
    row = page.locator(f"#queue tr[data-task-id='{task.id}']")
    row.get_by_text("Reassign").click()
    picker = row.get_by_label("To")
    names = picker.locator("option").all_inner_texts()
    assert "agent2" in names and "backoffice1" not in names  # holders of the role only
    page.set_viewport_size({"width": 1280, "height": 300})  # so that the page scrolls
    row.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    assert before > 0  # the queue is below the fold
    picker.select_option("agent2")
    row.get_by_label("Reason").fill("covers the north region today")
    row.get_by_role("button", name="Assign").click()
    page.get_by_text("is now with agent2").wait_for()
    page.wait_for_load_state("load")
    assert page.evaluate("window.scrollY") > before / 2  # not back at the top
    assert tasks.get_task(live_server.ctx, TELEMARKETING, task.id).claimed_by == "agent2"


def _partner_lead(ctx: Any) -> tuple[str, str]:
    """A fresh sales-partner case: (its lead's task id, the organisation it went to)."""
    case = cases.start_case(ctx, SYSTEM, "sales_partner", LEAD_DATA)
    lead = next(t for t in case.open_tasks if t.role == "partner")
    return str(lead.id), str(lead.partner)


def test_a_partner_reports_the_outcome_of_their_lead(
    page: Any, login_as: Any, live_server: Any
) -> None:
    task_id, org = _partner_lead(live_server.ctx)
    login_as(page, f"partner_{org[2:]}")
    assert page.url.endswith("/partner")
    page.click(f"tr[data-task-id='{task_id}'] a")
    assert page.get_by_text(LEAD_DATA["case_number"]).first.is_visible()
    # the offers this customer may get (the case's offer decision), by their titles
    auditor = Actor("auditor1", frozenset({"auditor"}))
    eligible = tasks.get_task(live_server.ctx, auditor, task_id).context["eligible_offers"]
    assert eligible == ["UPGRADE_DATA", "DISCOUNT_10", "LOYALTY_BONUS"]
    offered = page.get_by_label("Offer agreed").locator("option[value]:not([value=''])")
    assert offered.evaluate_all("os => os.map(o => o.value)") == eligible
    assert "No eligible offers recorded" not in page.content()
    assert "10 % off the monthly fee for 12 months" in offered.all_inner_texts()
    page.get_by_label("Customer stays").check()
    page.get_by_label("Offer agreed").select_option("DISCOUNT_10")
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/partner")
    assert page.get_by_text("Done: Work lead").is_visible()
    assert page.locator(f"tr[data-task-id='{task_id}']").count() == 0


def test_another_partner_cannot_reach_the_lead_by_url(
    page: Any, login_as: Any, live_server: Any
) -> None:
    task_id, org = _partner_lead(live_server.ctx)
    other = next(p for p in ("p_alpha", "p_beta", "p_gamma") if p != org)
    login_as(page, f"partner_{other[2:]}")
    assert page.locator(f"tr[data-task-id='{task_id}']").count() == 0
    response = page.goto(f"/partner/leads/{task_id}")
    assert response is not None and response.status == 404
    assert page.get_by_text("This page does not exist, or it is not yours to see.").is_visible()
    assert LEAD_DATA["case_number"] not in page.content()
    page.goto("/partner")
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    form = {"partner_outcome": "declined", "csrf_token": token}
    posted = page.request.post(f"/partner/leads/{task_id}/complete", form=form)
    assert posted.status == 404  # a valid form from the wrong organisation: not found
    auditor = Actor("auditor1", frozenset({"auditor"}))
    assert tasks.get_task(live_server.ctx, auditor, task_id).state == "ready"
