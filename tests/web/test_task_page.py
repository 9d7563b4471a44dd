"""The task page and the session without a browser: what the page shows, how the form is
read back, plain-words errors, escaping, CSRF and an expired session."""

from __future__ import annotations

from datetime import timedelta

import pytest

from retention_flow.core.clock import FrozenClock
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from retention_flow.web import forms
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

AGENT = actor("agent", "agent", "telemarketing")


@pytest.fixture
def case(ctx: AppContext) -> CaseView:
    deploy(ctx, "three_steps")
    data = {"customer_name": "<script>alert(1)</script> Erika", "case_number": "RC-1"}
    return cases.start_case(ctx, AGENT, "three_steps", data, business_key="RC-1")


def test_the_task_page_shows_previous_steps_with_their_notes(
    ctx: AppContext, pages: dict[str, PageClient], case: CaseView
) -> None:
    first = case.open_tasks[0].id
    result = tasks.complete(ctx, AGENT, first, {"call_result": "reached", "notes": "call at 5"})
    second = result.next_tasks[0].id
    html = pages["agent"].get(f"/tasks/{second}").text
    assert "Call customer" in html and "call at 5" in html and "reached" in html
    assert "<script>alert(1)</script>" not in html  # case data is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Erika" in html


def test_completing_goes_straight_to_the_cases_next_task(
    pages: dict[str, PageClient], case: CaseView
) -> None:
    task_id = case.open_tasks[0].id
    answer = pages["agent"].post(f"/tasks/{task_id}/complete", {"call_result": "reached"})
    assert answer.status_code == 303
    nxt = pages["agent"].get(answer.headers["location"])
    assert "Present offer" in nxt.text and "Done: Call customer for case RC-1." in nxt.text


def test_a_refused_form_names_the_field_and_keeps_the_input(
    pages: dict[str, PageClient], case: CaseView
) -> None:
    task_id = case.open_tasks[0].id
    answer = pages["agent"].post(f"/tasks/{task_id}/complete", {"notes": "tried twice"})
    assert answer.status_code == 422
    assert "Please fill in “Result of the call”." in answer.text
    assert "tried twice" in answer.text


def test_a_post_without_the_csrf_token_is_refused_with_a_page(
    pages: dict[str, PageClient], case: CaseView
) -> None:
    task_id = case.open_tasks[0].id
    page = pages["agent"]
    answer = page.client.post(
        f"/tasks/{task_id}/complete", data={"call_result": "reached"}, follow_redirects=False
    )
    assert answer.status_code == 403 and "text/html" in answer.headers["content-type"]
    assert "the form has expired" in answer.text


def test_an_expired_session_leads_to_the_login_page_and_back(
    ctx: AppContext, pages: dict[str, PageClient], clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=ctx.settings.session_ttl_minutes + 1))
    answer = pages["agent"].get("/queue?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/queue%3Fx%3D1&reason=expired"
    refresh = pages["agent"].get("/queue/rows", headers={"HX-Request": "true"})
    assert refresh.headers["HX-Redirect"].startswith("/login?next=/queue/rows")
    login = pages["agent"].get(answer.headers["location"])
    assert "Your session has ended. Please log in again." in login.text


def test_only_local_paths_follow_the_login(pages: dict[str, PageClient]) -> None:
    page = pages["anonymous"]
    form = {"username": "agent", "password": "correct horse battery"}
    for target, lands in (
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/team", "/team"),
    ):
        page.refresh_token()  # each login renews the CSRF nonce
        answer = page.post("/login", {**form, "next": target})
        assert answer.headers["location"] == lands


SCHEMA = {
    "type": "object",
    "required": ["reached"],
    "properties": {
        "reached": {"type": "boolean", "title": "Reached"},
        "outcome": {"type": "string", "enum": ["a", "b"], "oneOf": [{"const": "a", "title": "A!"}]},
        "count": {"type": "integer"},
        "share": {"type": "number"},
        "note": {"type": "string", "maxLength": 1000},
        "many": {"type": "string", "enum": ["1", "2", "3", "4", "5"]},
    },
}


def test_form_fields_follow_the_schema() -> None:
    fields = {f.name: f for f in forms.fields_of(SCHEMA, {"reached": True})}
    assert fields["reached"].kind == "boolean" and fields["reached"].value == "true"
    assert fields["reached"].required and not fields["note"].required
    assert fields["outcome"].kind == "choice"
    assert fields["outcome"].options == [("a", "A!"), ("b", "b")]
    assert fields["many"].kind == "select" and fields["note"].kind == "textarea"
    assert fields["count"].kind == "integer" and fields["share"].kind == "number"


def test_the_submitted_form_is_read_back_as_typed_data() -> None:
    form = {
        "reached": "false",
        "outcome": "a",
        "count": "3",
        "share": "0.5",
        "note": " hi ",
        "many": "",
    }
    assert forms.parse(SCHEMA, form) == {
        "reached": False,
        "outcome": "a",
        "count": 3,
        "share": 0.5,
        "note": " hi ",
    }
    assert forms.parse(SCHEMA, {"count": "three"}) == {"count": "three"}  # the schema says no
    # numbers JSON cannot hold stay text too (no NaN, infinity or 30-digit integer reaches
    # the case): the schema check then names the field
    for share in ("NaN", "inf", "-Infinity", "1e400"):
        assert forms.parse(SCHEMA, {"share": share}) == {"share": share}
    assert forms.parse(SCHEMA, {"count": "9" * 30}) == {"count": "9" * 30}


def test_a_refused_reassignment_is_explained_on_the_team_page(
    ctx: AppContext, pages: dict[str, PageClient], case: CaseView
) -> None:
    users.set_team(ctx, "team_lead", "north")
    users.set_team(ctx, "agent", "south")
    task_id = case.open_tasks[0].id
    lead = pages["team_lead"]
    lead.login("team_lead")  # a changed user logs in again
    answer = lead.post(f"/team/tasks/{task_id}/assign", {"assignee": "agent", "reason": "cover"})
    assert answer.status_code == 303
    assert "Not reassigned: you lead team" in lead.get("/team").text
    answer = lead.post(f"/team/tasks/{task_id}/assign", {"assignee": "nobody", "reason": "x"})
    assert "Not reassigned: there is no active user" in lead.get("/team").text
