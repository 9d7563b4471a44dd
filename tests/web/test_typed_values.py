"""Never lose what an agent typed: a conflict keeps the values and says who completed the
task and when; one's own completed task says so; a submit after the session ended keeps
the values through the login; a removed cookie and a throttled login are said plainly."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from retention_flow.core.clock import FrozenClock
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.api.conftest import PASSWORD
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

AGENT = actor("agent", "agent", "telemarketing")
COLLEAGUE = actor("erika", "agent", "telemarketing")


@pytest.fixture
def task_id(ctx: AppContext) -> str:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"case_number": "RC-9"}, business_key="RC-9")
    return str(case.open_tasks[0].id)


def test_a_conflict_keeps_the_typed_values_and_names_who_completed_it(
    ctx: AppContext, pages: dict[str, PageClient], task_id: str
) -> None:
    tasks.complete(ctx, COLLEAGUE, task_id, {"call_result": "reached"})
    answer = pages["agent"].post(
        f"/tasks/{task_id}/complete", {"call_result": "no_answer", "notes": "left a voicemail"}
    )
    assert answer.status_code == 409
    assert "erika completed this task at" in answer.text
    assert "What you typed" in answer.text and "left a voicemail" in answer.text
    assert re.search(r'value="no_answer" id="[^"]+" checked', answer.text)


def test_revisiting_ones_own_completed_task_says_so(
    pages: dict[str, PageClient], task_id: str
) -> None:
    agent = pages["agent"]
    assert agent.post(f"/tasks/{task_id}/complete", {"call_result": "reached"}).status_code == 303
    html = agent.get(f"/tasks/{task_id}").text
    assert "You completed this task at" in html and "someone else" not in html


def test_a_submit_after_the_session_ended_returns_to_the_task_with_the_values(
    ctx: AppContext, pages: dict[str, PageClient], clock: FrozenClock, task_id: str
) -> None:
    agent = pages["agent"]
    clock.advance(timedelta(minutes=ctx.settings.session_ttl_minutes + 1))
    answer = agent.post(f"/tasks/{task_id}/complete", {"call_result": "reached", "notes": "ok!"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next=/tasks/{task_id}&reason=expired"
    assert "Your session has ended" in agent.get(answer.headers["location"]).text
    agent.refresh_token()
    login = agent.post(
        "/login", {"username": "agent", "password": PASSWORD, "next": f"/tasks/{task_id}"}
    )
    assert login.headers["location"] == f"/tasks/{task_id}"
    html = agent.get(f"/tasks/{task_id}").text
    assert "the values you typed are back" in html and "ok!" in html
    assert "the values you typed are back" not in agent.get(f"/tasks/{task_id}").text  # once
    assert tasks.get_task(ctx, AGENT, task_id).state == "ready"  # nothing was saved


def test_a_removed_session_cookie_is_said_plainly(pages: dict[str, PageClient]) -> None:
    agent = pages["agent"]
    agent.client.cookies.delete("rf_session")
    answer = agent.get("/queue")
    assert answer.headers["location"] == "/login?next=/queue&reason=expired"
    # never logged in here: no such message
    assert pages["anonymous"].get("/queue").headers["location"] == "/login?next=/queue"


def test_a_throttled_login_says_how_long_to_wait(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    page = pages["anonymous"]
    for _ in range(ctx.settings.login_max_failures - 1):
        page.refresh_token()
        assert page.post("/login", {"username": "agent", "password": "nope"}).status_code == 401
    page.refresh_token()
    answer = page.post("/login", {"username": "agent", "password": "nope"})
    assert answer.status_code == 429 and "wait" in answer.text and "minute" in answer.text
    page.refresh_token()
    answer = page.post("/login", {"username": "agent", "password": PASSWORD})
    assert answer.status_code == 429 and "Too many failed logins" in answer.text


def test_an_admin_opens_a_task_page(
    ctx: AppContext, pages: dict[str, PageClient], task_id: str
) -> None:
    users.set_team(ctx, "agent", "north")
    answer = pages["admin"].get(f"/tasks/{task_id}")
    assert answer.status_code == 200 and "Call customer" in answer.text


def test_offer_choices_are_the_cases_eligible_offers() -> None:
    from retention_flow.web import forms

    schema = {
        "type": "object",
        "properties": {
            "chosen_offer": {
                "type": "string",
                "title": "Ticked offer",
                "enum": ["NEW_DEVICE", "DISCOUNT_20", "UPGRADE_DATA", "DISCOUNT_10", "none"],
            },
            "signed": {"type": "boolean", "title": "Signed"},
        },
    }
    fields = forms.restrict_offers(forms.fields_of(schema), ["DISCOUNT_10", "UPGRADE_DATA"])
    offer = fields[0]
    assert [v for v, _label in offer.options] == ["UPGRADE_DATA", "DISCOUNT_10", "none"]
    assert offer.kind == "select" and offer.label == "Ticked offer"
    assert forms.restrict_offers(forms.fields_of(schema), []) == forms.fields_of(schema)
