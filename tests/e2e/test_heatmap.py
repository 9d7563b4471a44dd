"""The heatmap page in a real browser: a version's diagram coloured from the audit
trail, badges with the figures, flows with their counts, the legend, another metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor

pytestmark = pytest.mark.browser

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]
OUTBOUND = START["outbound_telemarketing"]["start_data"]
SYSTEM = Actor("system", frozenset({"system", "agent"}))


def test_lead_reads_the_heatmap_of_a_version(page: Any, login_as: Any, live_server: Any) -> None:
    for n in range(3):
        data = {**OUTBOUND, "case_number": f"RC-HEAT-{n}"}
        cases.start_case(
            live_server.ctx, SYSTEM, "outbound_telemarketing", data, business_key=f"RC-HEAT-{n}"
        )
    login_as(page, "lead1")
    page.click("nav >> text=Heatmap")
    page.click("#heatmap-versions >> text=outbound_telemarketing")
    page.wait_for_selector('body[data-heatmap-ready="true"]')
    # coloured elements with their count, flows with theirs, the legend's ranges
    assert page.locator(".heat-canvas .djs-element.heat-4").count() >= 1
    badges = page.locator(".heat-canvas .heat-badge").all_inner_texts()
    assert badges and all(b.strip().isdigit() for b in badges)
    assert page.locator(".heat-canvas .heat-flow-badge").count() >= 1
    legend = page.locator("#heat-legend [data-step='4']").inner_text()
    assert "\u2013" in legend and legend != "\u2013"
    table = page.locator("#heat-table tbody tr").count()
    assert table >= 5
    page.select_option("#hm-metric", "wait_p95_seconds")
    page.click("#heatmap-form button[type=submit]")
    page.wait_for_selector('body[data-heatmap-ready="true"]')
    assert "metric=wait_p95_seconds" in page.url
