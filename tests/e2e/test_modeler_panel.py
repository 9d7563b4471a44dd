"""The modeler's properties panel and the DMN editor in a real browser: a process owner
changes a gateway condition and a timer through the panel (the condition checked by the
server's sandbox check as it is typed), validates and deploys, and a new case follows the
change; a flow deleted in the modeler is linted live and refused by the server; a DMN
error is marked at its cell, once; the "try it" box shows the matching rule; the console
stays clean on the modeler pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from retention_flow.db.models import Timer
from retention_flow.db.session import read_session
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks

pytestmark = pytest.mark.browser

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]
OUTBOUND = START["outbound_telemarketing"]["start_data"]
SYSTEM = Actor("system", frozenset({"system", "agent"}))
AGENT = Actor("agent1", frozenset({"agent", "telemarketing"}))
NEW_CONDITION = 'reached and call_outcome in ("accepted", "callback")'


def _console(page: Any) -> list[str]:
    messages: list[str] = []
    noisy = ("error", "warning")

    def on_console(m: Any) -> None:
        if m.type in noisy:
            messages.append(f"{m.type}: {m.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    return messages


def _select(page: Any, element_id: str) -> None:
    page.evaluate(
        """(id) => {
          const el = rfModeler.get("elementRegistry").get(id);
          rfModeler.get("selection").select(el);
        }""",
        element_id,
    )


def _open_group(page: Any, name: str) -> None:
    group = f'.bio-properties-panel-group[data-group-id="group-{name}"]'
    header = page.locator(f"{group} .bio-properties-panel-group-header")
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_owner_edits_a_condition_and_a_timer_in_the_panel(
    page: Any, login_as: Any, live_server: Any
) -> None:
    console = _console(page)
    login_as(page, "owner1")
    page.goto("/processes/outbound_telemarketing/1")
    page.wait_for_selector('#modeler[data-ready="true"]')
    assert page.locator(".bjs-powered-by").is_visible()  # the bpmn.io watermark stays

    # the condition: typed in the panel, refused then accepted by the server's check
    _select(page, "flow_accepted")
    _open_group(page, "retention")
    field = page.locator("#bio-properties-panel-rf-condition")
    field.fill("__import__('os')")
    page.wait_for_selector('.rf-source-check.rf-bad[data-entry="rf-condition"]')
    field.fill(NEW_CONDITION)
    page.wait_for_selector('.rf-source-check.rf-ok[data-entry="rf-condition"]')

    # the timer of the overdue call: a duration of one hour instead of business hours
    _select(page, "call_overdue")
    _open_group(page, "timer")
    page.select_option("#bio-properties-panel-timerEventDefinitionType", "timeDuration")
    page.fill("#bio-properties-panel-timerEventDefinitionValue", '"PT1H"')
    page.keyboard.press("Tab")

    page.click("#validate")
    page.wait_for_selector("#diagram-status .flash-ok")
    page.click("#deploy")
    status = page.wait_for_selector("#diagram-status .flash-ok")
    assert "Deployed as version 2" in status.inner_text()
    assert page.locator("#new-version-link").get_attribute("href").endswith("/2")

    xml = processes.version_xml(live_server.ctx, "outbound_telemarketing", 2)
    assert "call_outcome in (" in xml and '"PT1H"' in xml
    before = datetime.now(UTC)
    case = cases.start_case(
        live_server.ctx, SYSTEM, "outbound_telemarketing", {**OUTBOUND, "case_number": "RC-P"}
    )
    assert case.process_version == 2
    with read_session(live_server.ctx.db) as session:
        timers = session.execute(select(Timer).where(col(Timer.case_id) == case.id)).scalars()
        due = {t.element_id: t.due_at for t in timers}
    due_at = due["call_overdue"]
    due_at = due_at.replace(tzinfo=UTC) if due_at.tzinfo is None else due_at
    assert timedelta(minutes=59) < due_at - before < timedelta(minutes=61)
    # a call-back now books the change, as the new condition says
    task = case.open_tasks[0]
    tasks.claim(live_server.ctx, AGENT, task.id)
    done = tasks.complete(
        live_server.ctx, AGENT, task.id, {"reached": True, "call_outcome": "callback"}
    ).case
    assert done.status == "completed" and done.data["outcome"] == "retained"
    # the compare page names the changed flow and timer, its console clean too
    page.goto("/processes/outbound_telemarketing/compare?old=1&new=2")
    page.wait_for_selector('#viewer[data-ready="true"]')
    changed = page.locator('#element-changes tr[data-change="changed"]').all_inner_texts()
    assert any("flow_accepted" in row for row in changed), changed
    assert any("call_overdue" in row for row in changed), changed
    assert console == []


def test_a_deleted_flow_is_linted_and_refused(page: Any, login_as: Any) -> None:
    console = _console(page)
    login_as(page, "owner1")
    page.goto("/processes/outbound_telemarketing/1")
    page.wait_for_selector('#modeler[data-ready="true"]')
    page.evaluate(
        """() => {
          const flow = rfModeler.get("elementRegistry").get("flow_accepted");
          rfModeler.get("modeling").removeElements([flow]);
        }"""
    )
    # live lint marks the task left without an incoming flow
    page.wait_for_selector('.djs-overlays[data-container-id="book_change"] .bjsl-overlay')
    page.click("#validate")
    page.wait_for_selector('.rf-error-badge[data-element-id="book_change"]')
    assert "not connected" in page.locator("#problems").inner_text()
    assert console == []


def test_dmn_error_at_its_cell_and_try_it(page: Any, login_as: Any) -> None:
    console = _console(page)
    login_as(page, "owner1")
    page.goto("/processes")
    page.click("ul.decisions >> text=offer_eligibility.dmn")
    page.wait_for_selector('#dmn-editor[data-ready="true"]')
    cell_id = "rule_new_device_loyal_high_value_offer_hits"
    cell = page.locator(f'td[data-element-id="{cell_id}"]')
    cell.locator("[contenteditable]").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type("__import__('os')")
    page.click("#validate")
    page.wait_for_selector(f'td.rf-error-cell[data-element-id="{cell_id}"]')
    problems = page.locator("#problems li")
    assert problems.count() == 1 and "offer_eligibility.dmn" in problems.inner_text()
    # leaving with unsaved changes asks first
    dialogs: list[str] = []

    def on_dialog(d: Any) -> None:
        dialogs.append(d.type)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.click("text=Processes")
    assert dialogs == ["beforeunload"]
    # the try-it box runs the table on the server with the typed inputs
    cell.locator("[contenteditable]").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type('"NEW_DEVICE"')
    for name, value in OUTBOUND.items():
        box = page.locator(f'#dmn-try input[data-variable="{name}"]')
        if box.count():
            box.fill(str(value))
    page.click("#dmn-try button[type=submit]")
    page.wait_for_selector("#dmn-try-result:not(:empty)")
    result = page.locator("#dmn-try-result").inner_text()
    assert page.locator("#dmn-try-result li").count() >= 1, result
    assert "NEW_DEVICE" in result
    assert console == []


def test_owner_adds_a_form_field_in_the_form_editor(
    page: Any, login_as: Any, live_server: Any
) -> None:
    console = _console(page)
    login_as(page, "owner1")
    page.goto("/processes/outbound_telemarketing/1")
    page.wait_for_selector('#modeler[data-ready="true"]')
    _select(page, "call_customer")
    _open_group(page, "retention")
    form = page.locator("#bio-properties-panel-rf-form")
    assert form.input_value() == "call_customer.schema.json"
    page.click('[data-action="edit-form"]')
    dialog = page.locator("#form-editor")
    dialog.wait_for()
    rows = dialog.locator("tbody tr")
    fields = rows.count()
    assert fields >= 2 and rows.first.locator("input").first.input_value() == "reached"
    page.click('[data-action="add-field"]')
    last = rows.nth(fields)
    last.locator('input[aria-label="Variable"]').fill("preferred_channel")
    last.locator('input[aria-label="Label"]').fill("Preferred channel")
    last.locator('input[aria-label="Choices"]').fill("phone, mail")
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("#form-editor", state="hidden")
    page.click("#validate")
    page.wait_for_selector("#diagram-status .flash-ok")
    page.click("#deploy")
    page.wait_for_selector("#diagram-status .flash-ok >> text=Deployed as version 2")

    from retention_flow.services.process_models import versions

    schema = json.loads(
        versions.bundle_file(
            live_server.ctx, "outbound_telemarketing", 2, "call_customer.schema.json"
        )
    )
    assert schema["properties"]["preferred_channel"] == {
        "type": "string",
        "title": "Preferred channel",
        "enum": ["phone", "mail"],
    }
    assert schema["properties"]["reached"]["title"] == "Customer reached"  # kept as it was
    assert schema["required"] == ["reached"]
    assert console == []


def test_message_event_shows_its_variable_and_correlation(page: Any, login_as: Any) -> None:
    console = _console(page)
    login_as(page, "owner1")
    page.goto("/processes/mail_response/1")
    page.wait_for_selector('#modeler[data-ready="true"]')
    _select(page, "form_received")
    _open_group(page, "retention")
    assert page.locator("#bio-properties-panel-rf-messageVariable").input_value() == "response_form"
    assert "case_number" in page.locator('[data-entry-id="rf-correlation"]').inner_text()
    _open_group(page, "message")  # the message's name, from the bpmn provider
    assert page.locator("#bio-properties-panel-messageName").input_value()
    assert console == []
