"""The incentive plan and QA checklist edited in the browser by a process owner (saved as
a new version of their bundle, applied from the next period), and the scorecard pages
(the team's, an agent's own) with the "as of" moment, the automation share and the
definitions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from retention_flow.api.app import create_app
from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.db.tables import DEPLOYMENT
from retention_flow.services.incentives import payouts, plan_editing, plan_lookup, qa
from retention_flow.services.insight import kpis
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
from tests.api.conftest import PASSWORD
from tests.integration.kpi_fixture import T0
from tests.web.conftest import PageClient

Pages = Callable[[str], PageClient]


@pytest.fixture
def pages(week: AppContext) -> Iterator[Pages]:
    users.add_user(week, "olga", PASSWORD, ["process_owner"])
    with TestClient(create_app(week), raise_server_exceptions=False) as client:

        def as_(name: str) -> PageClient:
            client.cookies.clear()
            page = PageClient(client)
            assert page.login(name).status_code == 303
            return page

        yield as_


def _deployments(ctx: AppContext) -> int:
    with read_session(ctx.db) as session:
        return int(session.execute(select(func.count()).select_from(DEPLOYMENT)).scalar_one())


def _plans(ctx: AppContext, *periods: str) -> list[str]:
    with read_session(ctx.db) as session:
        return [payouts.plan_for(session.connection(), p)[2] for p in periods]


def _textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, f"no {name} editor"
    return found.group(1).replace("&#34;", '"').replace("&quot;", '"').replace("&#39;", "'")


def test_a_process_owner_edits_the_plan_in_the_browser_and_it_applies_next_period(
    pages: Pages, week: AppContext, clock: FrozenClock
) -> None:
    clock.set(T0 + timedelta(days=3))  # mid-March
    owner = pages("olga")
    shown = owner.get("/incentives/plan")
    assert shown.status_code == 200
    assert 'data-kpi="retention_rate"' in shown.text and "Versions of the plan" in shown.text
    plan = json.loads(_textarea(shown.text, "plan"))
    checklist = _textarea(shown.text, "checklist")
    before_march, before_april = _plans(week, "2026-03", "2026-04")
    assert before_march == before_april

    plan["money_per_point_cents"] = 1000
    plan["components"][0]["weight"] = 70  # retention counts more on the scorecard too
    saved = owner.post("/incentives/plan", {"plan": json.dumps(plan), "checklist": checklist})
    assert saved.status_code == 303
    page = owner.get("/incentives/plan").text
    assert "the plan applies from 2026-04" in page
    assert page.count("<td>2026-04</td>") == 1  # the new version, in the history
    march, april = _plans(week, "2026-03", "2026-04")
    assert march == before_march  # this month keeps the plan it started with
    assert april != before_april
    stored = plan_editing.source(week)
    assert stored is not None and stored.plan["components"][0]["weight"] == 70
    assert april == plan_lookup.plan_hash(stored.plan)
    old_weights = kpis.scorecard_weights(week, T0)
    new_weights = kpis.scorecard_weights(week, T0 + timedelta(days=30))
    assert old_weights["retention_rate"] == 40 and new_weights["retention_rate"] == 70
    assert "handling" not in new_weights  # the plan does not weigh handling time
    card = kpis.scorecard(week, start=T0, end=T0 + timedelta(days=12))[0]
    weights = {c.kpi: c.weight for c in card.components}
    assert weights["retention_rate"] == 40 and weights["handling"] == 0.0

    again = owner.post("/incentives/plan", {"plan": json.dumps(plan), "checklist": checklist})
    assert again.status_code == 303
    assert "Nothing changed" in owner.get("/incentives/plan").text


def test_an_invalid_plan_or_checklist_is_refused_with_the_reason_and_nothing_deployed(
    pages: Pages, week: AppContext
) -> None:
    owner = pages("olga")
    shown = owner.get("/incentives/plan").text
    plan = json.loads(_textarea(shown, "plan"))
    checklist = _textarea(shown, "checklist")
    count = _deployments(week)
    plan["components"][0]["weight"] = -1
    refused = owner.post("/incentives/plan", {"plan": json.dumps(plan), "checklist": checklist})
    assert refused.status_code == 422
    assert "Not saved" in refused.text and "plan.components.0.weight" in refused.text
    assert '"weight": -1' in _textarea(refused.text, "plan")  # what was typed stays
    plan["components"][0]["weight"] = 40
    no_items = json.dumps({"type": "object", "properties": {"note": {"type": "string"}}})
    refused = owner.post("/incentives/plan", {"plan": json.dumps(plan), "checklist": no_items})
    assert refused.status_code == 422 and "yes/no items" in refused.text
    assert _deployments(week) == count
    assert pages("lead").get("/incentives/plan").status_code == 403


def test_a_checklist_edited_in_the_browser_is_the_form_of_the_next_draw(
    pages: Pages, week: AppContext
) -> None:
    owner = pages("olga")
    shown = owner.get("/incentives/plan").text
    schema = json.loads(_textarea(shown, "checklist"))
    schema["properties"]["closing"] = {"type": "boolean", "title": "Closed the call politely"}
    schema["required"].append("closing")
    saved = owner.post(
        "/incentives/plan", {"plan": _textarea(shown, "plan"), "checklist": json.dumps(schema)}
    )
    assert saved.status_code == 303
    qa.draw_sample(week, Actor("lead", frozenset({"team_lead"})), "2026-03")
    reviewer = Actor("qa1", frozenset({"qa"}))
    review = qa.list_reviews(week, reviewer, as_="reviewer")[0].model_dump()
    form = qa.get_review(week, reviewer, review["id"]).model_dump()["form_schema"]
    assert "closing" in form["properties"]


def test_the_scorecard_pages_show_the_as_of_moment_automation_share_and_definitions(
    pages: Pages, week: AppContext
) -> None:
    lead = pages("lead")
    card = lead.get("/kpis/scorecard?period=2026-03")
    assert card.status_code == 200
    assert 'id="kpi-as-of"' in card.text and 'href="/kpis/definitions"' in card.text
    share = re.search(r'id="kpi-automation">.*?<strong>([^<]+)</strong>', card.text, re.S)
    assert share and share.group(1).endswith("%")
    assert 'data-agent="tom"' in card.text
    assert 'href="/kpis/scorecard"' in lead.get("/kpis").text

    tom = pages("tom")
    mine = tom.get("/me?period=2026-03")
    assert mine.status_code == 200
    assert 'id="kpi-as-of"' in mine.text and 'id="kpi-automation"' in mine.text
    definitions = tom.get("/kpis/definitions")  # the figures his pay is built on
    assert definitions.status_code == 200 and "Automation share" in definitions.text
    assert tom.get("/kpis/scorecard").status_code == 403
