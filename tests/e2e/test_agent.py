"""The agent's work in a real browser: from the queue to a completed telemarketing case,
with the interactions counted; validation and conflict messages in plain words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor
from retention_flow.services.tasks import work_items as tasks

pytestmark = pytest.mark.browser

#: Counts what the person does, in the page itself: trusted clicks and key presses outside
#: form fields (plus Ctrl+Enter, a shortcut that works inside them). Typing, ticking and
#: choosing in the form is "form input" and not counted. Kept across page loads.
COUNTER = """
(() => {
  const KEY = "rf-interactions";
  const bump = (what) => {
    const seen = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    seen.push(what);
    sessionStorage.setItem(KEY, JSON.stringify(seen));
  };
  const inField = (t) => t && t.closest &&
    t.closest("input:not([type=submit]):not([type=button]), select, textarea, label");
  document.addEventListener("click", (e) => {
    if (e.isTrusted && !inField(e.target)) bump("click " + (e.target.textContent || "").trim());
  }, true);
  document.addEventListener("keydown", (e) => {
    if (!e.isTrusted || ["Control", "Shift", "Alt", "Meta"].includes(e.key)) return;
    if (inField(e.target) && !(e.ctrlKey && e.key === "Enter")) return;
    bump("key " + (e.ctrlKey ? "Ctrl+" : "") + e.key);
  }, true);
})();
"""

AGENT = Actor("agent2", frozenset({"agent", "telemarketing"}))


@pytest.fixture
def opened(page: Any, login_as: Any, live_server: Any) -> TaskView:
    """The first task of agent2's queue, open in the page."""
    task = tasks.list_queue(live_server.ctx, AGENT)[0]
    login_as(page, "agent2")
    page.goto(f"/tasks/{task.id}")
    return task


def interactions(page: Any) -> list[str]:
    return json.loads(page.evaluate("sessionStorage.getItem('rf-interactions') || '[]'"))


def test_an_agent_completes_a_telemarketing_case_from_the_queue_in_few_interactions(
    page: Any, login_as: Any, live_server: Any
) -> None:
    ctx = live_server.ctx
    first = tasks.list_queue(ctx, AGENT)[0]
    assert first.element_id == "call_customer"
    login_as(page, "agent2")
    page.add_init_script(COUNTER)
    page.goto("/queue")
    assert page.locator(f"tr[data-task-id='{first.id}']").is_visible()
    page.evaluate("sessionStorage.removeItem('rf-interactions')")

    page.keyboard.press("n")  # the next task: the first of the queue
    page.wait_for_url(f"**/tasks/{first.id}")
    assert page.get_by_role("heading", name="Customer and contract").is_visible()
    assert page.locator("[data-offer]").is_visible()
    page.get_by_role("radio", name="Yes", exact=True).check()  # form input: customer reached ...
    page.get_by_label("Accepted the offer").check()  # ... and accepted
    page.keyboard.press("Control+Enter")  # submit
    page.wait_for_url(lambda url: f"/tasks/{first.id}" not in url)

    assert page.get_by_text(f"Done: Call customer for case {first.business_key}").is_visible()
    case = cases.get_case(ctx, first.case_id)
    assert (case.status, case.outcome) == ("completed", "retained")
    done = interactions(page)
    print(f"agent interactions from queue to completed case: {len(done)} {done}")
    assert len(done) <= 4, done


def test_missing_values_are_named_in_plain_words(
    page: Any, login_as: Any, live_server: Any
) -> None:
    task = tasks.list_queue(live_server.ctx, AGENT)[0]
    login_as(page, "agent2")
    page.goto(f"/tasks/{task.id}")
    page.get_by_role("radio", name="Yes", exact=True).check()
    page.click("button:has-text('Submit')")
    assert page.get_by_text("Please fill in “Result of the conversation”.").is_visible()
    assert page.get_by_role("radio", name="Yes", exact=True).is_checked()  # what was entered stays
    assert tasks.get_task(live_server.ctx, AGENT, task.id).state in ("ready", "claimed")


def test_a_conflict_keeps_the_typed_values_and_says_who_completed_it(
    page: Any, opened: TaskView, live_server: Any
) -> None:
    ctx, task = live_server.ctx, opened
    other = Actor("agent1", frozenset({"agent", "telemarketing"}))
    tasks.complete(ctx, other, task.id, {"reached": False})
    page.get_by_role("radio", name="No", exact=True).check()
    page.get_by_role("textbox", name="Note").fill("asked to call back after six")
    page.click("button:has-text('Submit')")
    notice = page.locator("[data-ended]")
    assert "agent1 completed this task at" in notice.inner_text()
    kept = page.locator("[data-kept]")  # what was typed is still on screen
    assert kept.get_by_role("textbox", name="Note").input_value() == "asked to call back after six"
    assert kept.get_by_role("radio", name="No", exact=True).is_checked()


def test_claim_with_the_keyboard_and_the_queue_refreshes_itself(
    page: Any, opened: TaskView, live_server: Any
) -> None:
    ctx, task = live_server.ctx, opened
    page.keyboard.press("c")
    page.get_by_text("Claimed by you").wait_for()
    page.goto("/queue")
    row = page.locator(f"tr[data-task-id='{task.id}']")
    assert "Claimed by you" in row.inner_text()
    start = tasks.get_task(ctx, AGENT, task.id).context
    keys: tuple[str, ...]
    keys = ("customer_id", "customer_name", "tenure_months", "monthly_revenue_cents")
    keys += ("contract_end", "churn_risk", "product", "region", "contract_age_months")
    data = {k: start[k] for k in keys} | {"case_number": "RC-2026-999999-9"}
    system = Actor("system", frozenset({"system", "agent"}))
    started = cases.start_case(ctx, system, "outbound_telemarketing", data)
    new_id = started.open_tasks[0].id
    page.evaluate("htmx.trigger('#queue-rows', 'every 10s')")
    page.wait_for_selector(f"tr[data-task-id='{new_id}']", timeout=15_000)
