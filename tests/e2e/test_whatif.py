"""The what-if page in a real browser: a team lead simulates today's seeded cases at 10x
with the keyboard alone, reads the queues' table and the SVG charts, asks for the
suggested staffing and downloads the CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_lead_simulates_ten_times_the_volume(page: Any, login_as: Any, live_server: Any) -> None:
    login_as(page, "lead1")
    page.click("nav >> text=What-if")
    assert page.url.endswith("/whatif")
    today = datetime.now(UTC).date().isoformat()
    page.fill("#wi-from", today)
    page.fill("#wi-to", today)
    page.fill("#wi-volume", "10")
    page.focus("#wi-suggest")
    page.keyboard.press("Space")  # the checkbox, by keyboard
    page.focus("#wi-volume")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector("#whatif-result")
    assert "volume=10" in page.url and "suggest=true" in page.url
    rows = page.locator("#whatif-queues tbody tr")
    assert rows.count() >= 1
    first: str = rows.first.locator("td.adherence").inner_text()
    assert first.endswith("%") or first == "\u2013"
    # three charts, each an image with a title, a line per queue with data
    charts = page.locator("svg.whatif-chart[role=img]")
    assert charts.count() == 3
    assert page.locator("svg.whatif-chart title").first.text_content().startswith("Backlog")
    assert page.locator("#chart-backlog polyline.whatif-line").count() >= 1
    assert page.locator("#whatif-suggestion li").count() == rows.count()
    # a staffing field per queue now, and the CSV of the same run
    assert page.locator("input[name^='staff.']").count() == rows.count()
    with page.expect_download() as download:
        page.click("text=Download CSV")
    path = download.value.path()
    header = Path(path).read_text(encoding="utf-8").splitlines()[0]
    assert header == "role,hour,arrivals,completed,backlog,wait_mean_seconds,adherence"
