"""The pages of agents, team leads, back office and auditors at work: an agent with two
roles filters to telemarketing and works that queue; a back-office user resolves a scan
exception from its page image; an auditor finds a case by part of its key."""

from __future__ import annotations

from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor
from retention_flow.services.scans import intake as scans
from retention_flow.services.tasks import work_items as tasks

pytestmark = pytest.mark.browser

AGENT1 = Actor("agent1", frozenset({"agent", "telemarketing", "inbound"}))


def test_an_agent_with_two_roles_filters_to_telemarketing_and_works_it(
    page: Any, login_as: Any, live_server: Any
) -> None:
    ctx = live_server.ctx
    login_as(page, "agent1")
    page.goto("/queue")
    page.get_by_label("Role").select_option("telemarketing")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/queue?role=telemarketing*")
    roles = page.locator("#queue-rows tr[data-role]").evaluate_all(
        "rows => rows.map(r => r.dataset.role)"
    )
    assert roles and set(roles) == {"telemarketing"}
    assert "open task" in page.locator("#queue-count").inner_text()

    page.goto("/account")
    page.goto("/queue")  # the filter is remembered
    assert page.get_by_label("Role").input_value() == "telemarketing"
    page.keyboard.press("n")  # next task: of the telemarketing queue
    page.wait_for_url("**/tasks/**")
    task_id = page.url.rsplit("/", 1)[1]
    assert tasks.get_task(ctx, AGENT1, task_id).role == "telemarketing"
    page.get_by_role("radio", name="No", exact=True).check()  # not reached
    page.keyboard.press("Control+Enter")
    page.wait_for_url(lambda url: task_id not in url)
    assert tasks.get_task(ctx, AGENT1, task_id).state == "completed"


@pytest.mark.tesseract
def test_back_office_resolves_an_exception_from_the_page_image(
    page: Any, login_as: Any, live_server: Any, ocr_engine: None
) -> None:
    from tests.scans.conftest import BACK, START, form_png

    ctx = live_server.ctx
    case = cases.get_case(ctx, cases.start_case(ctx, BACK, "mail_response", START).id)
    unknown = form_png({"data": {**case.data, "case_number": "RC-2026-999999-9"}})
    [scan] = [scans.ingest(ctx, BACK, "unknown.png", unknown).model_dump()]
    login_as(page, "backoffice1")
    page.goto(f"/scans/{scan['id']}")
    result = page.locator(".scan-result")
    assert "Exception" in result.locator("h3").inner_text()
    # the reason in plain words, never the stored internals
    assert "Case number: no case has the number RC-2026-999999-9." in result.inner_text()
    assert "case_number" not in result.inner_text() and "{'" not in result.inner_text()
    figure = page.locator("[data-page-image]")
    assert figure.locator("[data-zone]").count() > 0  # the read fields drawn on the page
    image = page.request.get(f"/scans/{scan['id']}/pages/1.png")
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    page.get_by_role("link", name="Resolve now").click()
    title = page.locator("h1").inner_text()
    assert "Scanned page not booked: no case has the number RC-2026-999999-9" in title
    assert (
        "No case has the number read from the page"
        in page.locator("[data-named-case]").inner_text()
    )
    assert "box 1" in page.locator("[data-ticked]").inner_text()  # what the page says
    width = page.locator("[data-page-image] image").evaluate("i => i.getBBox().width")
    assert width > 0
    page.get_by_label("Business key or customer (id or name)").fill(START["customer_name"][:5])
    page.get_by_role("button", name="Find", exact=True).click()
    number = case.data["case_number"]
    page.get_by_role("button", name=f"Use {number}").click()
    assert page.get_by_label("Case number").input_value() == number
    url = page.url
    page.get_by_label("Case number").press("Control+Enter")
    page.wait_for_url(lambda u: u != url)
    [after] = scans.get_scan(ctx, scan["id"]).model_dump()["pages"]
    # assigned to the case the page named (delivered by a job: "assigning" until it ran)
    assert after["resolution"] in ("assigning", "assigned")
    assert after["case_id"] in (None, case.id)


def test_an_auditor_finds_a_case_by_part_of_its_key(
    page: Any, login_as: Any, live_server: Any
) -> None:
    auditor = Actor("auditor1", frozenset({"auditor"}))
    found, _count = queries.list_cases(live_server.ctx, auditor, limit=1)
    key = str(found[0].business_key)
    part = key[2:-1].lower()
    login_as(page, "auditor1")
    page.goto("/audit")
    page.get_by_label("Business key").fill(part)
    page.get_by_label("Business key").press("Enter")
    page.wait_for_url("**/audit?**")
    page.get_by_role("link", name=key).first.click()
    assert key in page.locator("h1").inner_text()
