"""The operations pages in a real browser: a process owner finds an incident caused by
bad case data, sees the failing element on the case's diagram, types a wrong correction
(told what is wrong, the input kept), corrects the data, retries, and sees the case go on
to its next task; then suspends and resumes it with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor

pytestmark = pytest.mark.browser

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
OUTBOUND = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]["outbound_telemarketing"]
SYSTEM = Actor("system", frozenset({"system", "agent"}))


def _case_with_bad_data(live_server: Any) -> CaseView:
    """A shipped outbound case whose data says ``max_attempts: "three"``: the diagram's
    first script (``int(max_attempts)``) fails on it."""
    data = {**OUTBOUND["start_data"], "case_number": "RC-E2E-INC", "max_attempts": "three"}
    case = cases.start_case(
        live_server.ctx, SYSTEM, "outbound_telemarketing", data, business_key="RC-E2E-INC"
    )
    assert case.status == "incident"
    return case


def test_owner_corrects_the_data_and_retries_an_incident(
    page: Any, login_as: Any, live_server: Any
) -> None:
    case = _case_with_bad_data(live_server)
    login_as(page, "owner1")
    page.click("header nav >> text=Operations")
    page.wait_for_url("**/operations")
    assert "1 open incident(s)" in page.locator("#incident-count").inner_text()
    row = page.locator("#incidents tbody tr").first
    assert "ValueError" in row.inner_text() and "RC-E2E-INC" in row.inner_text()
    row.locator("td").first.locator("a").click()
    page.wait_for_selector("#retry-form")
    assert "Prepare call campaign" in page.locator("h1").inner_text()
    assert '"max_attempts": "three"' in page.locator("#data-at-failure").inner_text()

    # the case's diagram marks the failing element
    page.click("#case-link")
    page.wait_for_selector('#viewer[data-ready="true"]')
    failed = page.locator('.djs-element.rf-failed[data-element-id="prepare_outbound"]')
    assert failed.count() == 1
    page.go_back()
    page.wait_for_selector("#retry-form")

    # a correction that is not JSON: said next to the field, what was typed is kept
    page.fill("#patch", "max_attempts = 3")
    page.fill("#reason", "the import wrote the number in words")
    page.click("#retry")
    page.wait_for_selector("#patch-error")
    assert "not valid JSON" in page.locator("#patch-error").inner_text()
    assert page.input_value("#patch") == "max_attempts = 3"
    assert page.input_value("#reason") == "the import wrote the number in words"

    page.fill("#patch", '{"max_attempts": 3}')
    page.click("#retry")
    page.wait_for_url(f"**/operations/cases/{case.id}")
    assert "the case went on and is active" in page.locator("#flash").inner_text()
    assert page.locator("#case-status").inner_text() == "active"
    assert "telemarketing" in page.locator("#open-tasks").inner_text()
    assert page.locator("#open-incident").count() == 0
    after = cases.get_case(live_server.ctx, case.id)
    assert after.status == "active" and after.data["max_attempts"] == 3
    assert [t.role for t in after.open_tasks] == ["telemarketing"]

    # suspend needs the confirmation; then resume
    page.click("#action-suspend summary")
    page.fill("#suspend-reason", "customer asked to pause")
    page.click("#suspend-submit")
    page.wait_for_selector("#action-suspend .field-error")
    assert page.input_value("#suspend-reason") == "customer asked to pause"
    page.check("#suspend-confirm")
    page.click("#suspend-submit")
    page.wait_for_selector("#case-status:has-text('suspended')")
    assert "status active → suspended" in page.locator("#flash").inner_text()
    page.click("#action-resume summary")
    page.check("#resume-confirm")
    page.click("#resume-submit")
    page.wait_for_selector("#case-status:has-text('active')")
    assert "status suspended → active" in page.locator("#flash").inner_text()


def test_bulk_retry_is_confirmed_and_its_progress_follows_the_worker(
    page: Any, login_as: Any, live_server: Any
) -> None:
    from retention_flow.services.platform import worker

    first = _case_with_bad_data(live_server)
    data = {**OUTBOUND["start_data"], "case_number": "RC-E2E-INC-2", "max_attempts": "four"}
    cases.start_case(live_server.ctx, SYSTEM, "outbound_telemarketing", data)
    login_as(page, "owner1")
    page.goto("/operations?element_id=prepare_outbound")
    page.click("#bulk-retry")
    page.wait_for_selector("#bulk-form")
    assert "2" in page.locator("#bulk-matched strong").inner_text()
    page.fill("#reason", "after the import was fixed")
    page.click("#start-bulk")  # not confirmed yet
    page.wait_for_selector("#bulk-form .field-error")
    assert page.input_value("#reason") == "after the import was fixed"
    page.check("#confirm")
    page.click("#start-bulk")
    page.wait_for_selector('#batch-progress[data-state="queued"]')
    ran = worker.run_jobs_once(live_server.ctx, "e2e", worker.default_job_handlers())
    assert ran == 1
    page.wait_for_selector('#batch-progress[data-state="done"]')  # htmx refreshed it
    assert page.locator("#batch-failed").inner_text().startswith("2")
    assert cases.get_case(live_server.ctx, first.id).status == "incident"
