"""The heatmap page: one version, two side by side with the deltas, the period filter."""

from __future__ import annotations

import json
import re
from typing import Any

from retention_flow.core.clock import FrozenClock
from retention_flow.services.insight import heatmap_rollup
from retention_flow.services.platform.context import AppContext
from tests.api.test_heatmap import _fixture
from tests.web.conftest import PageClient

DATA = re.compile(r'<script type="application/json" id="heatmap-data">(.*?)</script>', re.S)


def _data(html: str) -> dict[str, Any]:
    found = DATA.search(html)
    assert found
    return json.loads(found.group(1))


def _accuracy(html: str) -> str:
    found = re.search(r'<p class="muted" id="heat-accuracy">(.*?)</p>', html, re.S)
    assert found
    return " ".join(found.group(1).split())


def test_heatmap_pages(ctx: AppContext, clock: FrozenClock, pages: dict[str, PageClient]) -> None:
    fx = _fixture(ctx, clock)
    page = pages["team_lead"]
    page.login("team_lead")  # the clock moved a day: a fresh session
    index = page.get("/heatmap")
    assert index.status_code == 200 and 'href="/heatmap/three_steps/2"' in index.text
    day = fx["t0"].date().isoformat()
    one = page.get(f"/heatmap/three_steps/1?from={day}&to={day}&metric=sla_breaches")
    assert one.status_code == 200
    data = _data(one.text)
    assert len(data["sides"]) == 1 and data["sides"][0]["cases"] == 3
    assert 'data-element-id="present_offer"' in one.text
    assert 'value="sla_breaches" selected' in one.text
    note = _accuracy(one.text)  # no rollup yet: this period read event by event
    assert "Counts are exact" in note and "Waiting times are approximate" in note
    assert "log scale" in note and "at most about 2 % off" in note
    assert "were read event by event and are exact" in note
    heatmap_rollup.catch_up(ctx)
    note = _accuracy(page.get(f"/heatmap/three_steps/1?from={day}&to={day}").text)
    assert "come from those buckets (at most 1.98 % off)" in note
    both = page.get(f"/heatmap/three_steps/2?compare=1&from={day}&to={day}")
    data = _data(both.text)
    assert [s["version"] for s in data["sides"]] == [1, 2]
    # v2 had one case (an incident at prepare_case) against three of v1
    assert data["deltas"]["prepare_case"] == {
        "cases": -3,
        "sla_breaches": 0,
        "incidents": 1,
        "wait_p50_seconds": None,
    }
    assert data["flow_deltas"]["flow_called"] == -2
    assert "Δ cases" in both.text
    earlier = page.get("/heatmap/three_steps/1?from=2025-01-01&to=2025-01-31")
    assert _data(earlier.text)["sides"][0]["cases"] == 0
    bad = page.get("/heatmap/three_steps/1?from=2026-13-01")
    assert bad.status_code == 422 and "not a date" in bad.text
    xml = page.get("/heatmap/three_steps/1/diagram")
    assert xml.status_code == 200 and "bpmn:definitions" in xml.text
    assert page.get("/heatmap/three_steps/7").status_code == 404
    assert page.get("/heatmap/three_steps/1?compare=").status_code == 200  # the form's "none"
    assert page.get("/heatmap/three_steps/1?compare=x").status_code == 422
