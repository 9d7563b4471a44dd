"""A customer answers an offer through the personal link on their letter, on a phone
(390x844): the case ends retained, a reused link is refused, and axe finds no serious or
critical violation on the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from retention_flow.db.session import read_session
from retention_flow.db.tables import LETTER
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor
from tests.e2e.test_accessibility import AXE, RUN_AXE

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SCENARIOS = Path(__file__).resolve().parents[2] / "processes" / "retention" / "scenarios.json"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_a_customer_accepts_an_offer_on_a_phone(browser: Any, live_server: Any) -> None:
    ctx = live_server.ctx
    start = json.loads(SCENARIOS.read_text())["bundles"]["mail_response"]["start_data"]
    case = cases.start_case(ctx, Actor("bea", frozenset({"back_office"})), "mail_response", start)
    with read_session(ctx.db) as session:
        document = session.execute(
            select(LETTER.c.document).where(
                LETTER.c.case_id == case.id, LETTER.c.kind == "response_form"
            )
        ).scalar_one()
    link = str(document["self_service_url"]).removeprefix(ctx.settings.self_service_base_url)
    chosen = document["offers"][1]

    context = browser.new_context(viewport=PHONE, base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        tab.goto(link)
        first = str(start["customer_name"]).split()[0]
        assert tab.locator("h1").inner_text() == f"Hello {first},"
        tab.add_script_tag(path=str(AXE))
        assert tab.evaluate(RUN_AXE) == []
        scroll_width = tab.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"], "the page scrolls sideways on a phone"
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / "self-service-phone.png"), full_page=True)

        tab.get_by_label(chosen["title"]).check()
        tab.get_by_label("4", exact=True).check()
        tab.get_by_role("button", name="Continue").click()
        assert tab.locator("h1").inner_text() == "Please confirm"
        assert chosen["title"] in tab.locator("main").inner_text()
        tab.get_by_role("button", name="Confirm").click()
        assert "Your answer has reached us" in tab.locator("main").inner_text()

        ended = cases.get_case(ctx, case.id)
        assert ended.status == "completed" and ended.outcome == "retained"
        assert ended.data["offer_code"] == chosen["code"] and ended.data["csat"] == 4

        again = tab.goto(link)
        assert again is not None and again.status == 410
        assert "already been used" in tab.locator("main").inner_text()
    finally:
        context.close()
