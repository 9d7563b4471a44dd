"""A process owner migrates running cases from the compare page in a real browser: maps
the removed retry wait to its replacement, reads the dry-run table (a case lacking the
data the new gateway reads cannot move, and says why), gives a reason, confirms, and
follows the worker's progress until every movable case is on the new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER
from tests.outbound_change import NEW_WAIT, OLD_WAIT, PROCESS, deploy_change

pytestmark = pytest.mark.browser

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"][PROCESS]["start_data"]
AGENT = Actor("e2e-agent", frozenset({"agent", "telemarketing"}))


def _start(live_server: Any, key: str, **extra: Any) -> CaseView:
    data = {**START, "case_number": key, **extra}
    return cases.start_case(live_server.ctx, AGENT, PROCESS, data, business_key=key)


def test_owner_migrates_running_cases_from_the_compare_page(
    page: Any, login_as: Any, live_server: Any
) -> None:
    ctx = live_server.ctx
    calling = _start(live_server, "RC-MIG-CALL", preferred_channel="phone")
    waiting = _start(live_server, "RC-MIG-WAIT", preferred_channel="phone")
    tasks.complete(ctx, AGENT, waiting.open_tasks[0].id, {"reached": False})
    lacking = _start(live_server, "RC-MIG-LACK")
    v2 = deploy_change(ctx, OWNER)

    login_as(page, "owner1")
    page.goto(f"{live_server.url}/processes/{PROCESS}/compare?old=1&new={v2}")
    section = page.locator("#migrate")
    assert "Migrate running cases" in section.inner_text()
    page.select_option(f"#map-{OLD_WAIT}", NEW_WAIT)
    page.click("#dry-run-form button[type=submit]")
    page.wait_for_selector("#dry-run")

    def row(case: CaseView) -> Any:
        return page.locator(f'#dry-run tr[data-case-id="{case.id}"]')

    assert row(calling).get_attribute("data-can-migrate") == "yes"
    assert row(waiting).get_attribute("data-can-migrate") == "yes"
    assert OLD_WAIT in row(waiting).inner_text()
    assert row(lacking).get_attribute("data-can-migrate") == "no"
    assert "preferred_channel" in row(lacking).inner_text()

    page.fill("#reason", "retry waits count business days")
    page.check("#migrate-form input[name=confirm]")
    page.click("#migrate-form button[type=submit]")
    page.wait_for_selector("#migration-status")
    assert "/migrations/" in page.url
    while worker.run_jobs_once(ctx, "e2e-worker", worker.default_job_handlers()):
        pass
    page.reload()
    page.wait_for_selector('#migration-status[data-status="done"]')
    assert "retry waits count business days" in page.content()
    assert "preferred_channel" in page.locator("#migration-failures").inner_text()

    assert cases.get_case(ctx, calling.id).process_version == v2
    assert cases.get_case(ctx, waiting.id).process_version == v2
    assert cases.get_case(ctx, lacking.id).process_version == 1
