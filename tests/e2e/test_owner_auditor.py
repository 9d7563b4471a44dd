"""The process owner, auditor and KPI pages in a real browser: a DMN rule changed in
dmn-js and deployed (a new case uses it, an old one stays on its version), a validation
problem shown at its element in the modeler, a case history drawn on its diagram, the
history exports, and the KPI charts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor
from retention_flow.services.process_models import deployments as processes

pytestmark = pytest.mark.browser

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]
OUTBOUND = START["outbound_telemarketing"]["start_data"]  # NEW_DEVICE by the first rule
SYSTEM = Actor("system", frozenset({"system", "agent"}))
FIRST_RULE_OFFER = "rule_new_device_loyal_high_value_offer_hits"


def _start(live_server: Any, key: str) -> CaseView:
    data = {**OUTBOUND, "case_number": key}
    return cases.start_case(
        live_server.ctx, SYSTEM, "outbound_telemarketing", data, business_key=key
    )


def test_owner_changes_a_dmn_rule_and_deploys_a_version(
    page: Any, login_as: Any, live_server: Any
) -> None:
    old = _start(live_server, "RC-E2E-OLD")
    assert (old.process_version, old.data["offer_code"]) == (1, "NEW_DEVICE")

    login_as(page, "owner1")
    assert page.url.endswith("/processes")
    page.click("ul.decisions >> text=offer_eligibility.dmn")
    page.wait_for_selector('#dmn-editor[data-ready="true"]')
    cell = page.locator(f'td[data-element-id="{FIRST_RULE_OFFER}"]')
    assert cell.inner_text().strip() == '"NEW_DEVICE"'
    cell.locator("[contenteditable]").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type('"DISCOUNT_20" +')  # not an expression
    page.click("#validate")
    page.wait_for_selector(f'td.rf-error-cell[data-element-id="{FIRST_RULE_OFFER}"]')
    assert FIRST_RULE_OFFER in page.locator("#problems").inner_text()
    assert page.locator("#problems li").count() == 1
    cell.locator("[contenteditable]").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type('"DISCOUNT_20"')
    page.click("#validate")
    page.wait_for_selector("#diagram-status .flash-ok")
    assert page.locator("td.rf-error-cell").count() == 0
    page.click("#deploy")
    status = page.wait_for_selector("#diagram-status .flash-ok")
    assert "Deployed as version 2 of" in status.inner_text()

    versions = [
        v.version for v in processes.list_versions(live_server.ctx, "outbound_telemarketing")
    ]
    assert versions == [1, 2]
    new = _start(live_server, "RC-E2E-NEW")
    assert (new.process_version, new.data["offer_code"]) == (2, "DISCOUNT_20")
    live_server.ctx.live.clear()  # the old case restored from the database: still version 1
    again = cases.get_case(live_server.ctx, old.id)
    assert (again.process_version, again.data["offer_code"]) == (1, "NEW_DEVICE")

    # the compare page names the changed rule
    page.goto("/processes/outbound_telemarketing/compare?old=1&new=2")
    page.wait_for_selector('#viewer[data-ready="true"]')
    row = page.locator('#file-changes tr[data-file="offer_eligibility.dmn"]')
    assert "rule_new_device_loyal_high_value" in row.inner_text()
    page.click("text=Show version 1 with the removed elements")
    page.wait_for_selector('#viewer[data-ready="true"]')
    assert "show=old" in page.url and "version 1" in page.locator(".legend").inner_text()


def test_modeler_shows_a_validation_problem_at_its_element(page: Any, login_as: Any) -> None:
    login_as(page, "owner1")
    page.goto("/processes/outbound_telemarketing/1")
    page.wait_for_selector('#modeler[data-ready="true"]')
    gateway = page.evaluate(
        """() => {
          const registry = rfModeler.get("elementRegistry");
          const gw = registry.filter(e => e.type === "bpmn:ExclusiveGateway"
            && e.businessObject.default && e.outgoing.length > 1)[0];
          rfModeler.get("modeling").updateProperties(gw, { default: null });
          return gw.id;
        }"""
    )
    page.click("#validate")
    badge = page.wait_for_selector(f'.djs-overlay .rf-error-badge[data-element-id="{gateway}"]')
    assert badge.is_visible()
    marked = page.locator(f'.djs-element.rf-error[data-element-id="{gateway}"]')
    assert marked.count() == 1
    assert gateway in page.locator("#problems").inner_text()
    assert "problem" in page.locator("#diagram-status").inner_text()
    page.click("#deploy")
    page.wait_for_selector("#diagram-status .flash-error")
    assert "Not deployed" in page.locator("#diagram-status").inner_text()
    assert page.locator(".bjs-powered-by").is_visible()  # the bpmn.io watermark stays

    page.context.clear_cookies(name="rf_session")  # the session ends while editing
    page.click("#validate")
    page.get_by_text("Your session has ended").wait_for()


def _worked_case(live_server: Any) -> CaseView:
    from retention_flow.services.tasks import work_items as tasks

    case = _start(live_server, "RC-E2E-AUDIT")
    agent = Actor("agent1", frozenset({"agent", "telemarketing"}))
    task = case.open_tasks[0]
    tasks.claim(live_server.ctx, agent, task.id)
    answer = {"reached": False}
    return tasks.complete(live_server.ctx, agent, task.id, answer).case


def test_auditor_sees_a_case_history_on_its_diagram(
    page: Any, login_as: Any, live_server: Any
) -> None:
    case = _worked_case(live_server)
    login_as(page, "auditor1")
    assert page.url.endswith("/audit")
    page.fill("#business_key", "RC-E2E-AUDIT")
    page.press("#business_key", "Enter")
    page.click(f'#cases tr[data-case-id="{case.id}"] a')
    page.wait_for_selector('#viewer[data-ready="true"]')
    assert page.locator(".djs-element.rf-done").count() >= 4
    assert page.locator('.djs-element.rf-done[data-element-id="choose_offer"]').count() == 1
    assert page.locator(".djs-element.rf-current").count() >= 1
    counts = page.locator(".djs-overlay .rf-count")
    assert counts.count() >= 4 and counts.first.inner_text().isdigit()
    assert page.locator('#timeline tr[data-type="task_completed"]').count() == 1
    assert page.locator('#chain-check [data-verify="ok"]').is_visible()


def test_history_exports_download(page: Any, login_as: Any, live_server: Any) -> None:
    case = _worked_case(live_server)
    login_as(page, "auditor1")
    page.goto(f"/audit/cases/{case.id}")
    with page.expect_download() as got:
        page.click("text=Export JSON")
    download = got.value
    assert download.suggested_filename == "case-RC-E2E-AUDIT-history.json"
    document = json.loads(Path(download.path()).read_text())
    assert document["case"]["id"] == case.id and document["verify"]["ok"]
    with page.expect_download() as got:
        page.click("text=Export CSV")
    text = Path(got.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["hash"] for r in rows] == [e["hash"] for e in document["events"]]


def test_kpi_page_renders_its_charts(page: Any, login_as: Any) -> None:
    login_as(page, "lead1")
    page.goto("/kpis")
    page.wait_for_selector('#kpi-charts[data-ready="5"]')
    assert page.evaluate("() => window.rfCharts.length") == 5
    box = page.locator("#chart-volume").bounding_box()
    assert box and box["width"] > 400 and box["height"] > 150
    assert page.locator("#kpi-table tbody tr").count() >= 1
    page.select_option("#by", "agent")
    page.click("text=Show")
    page.wait_for_selector('#kpi-charts[data-ready="5"]')
    assert "by=agent" in page.url
