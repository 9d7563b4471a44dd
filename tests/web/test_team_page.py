"""The team lead's page: the lead lands on it, the assignee is picked from the eligible
users (role, team), and the assignee reads the reason on the task page."""

from __future__ import annotations

import re

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

AGENT = actor("agent", "agent", "telemarketing")


@pytest.fixture
def task_id(ctx: AppContext) -> str:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {}, business_key="RC-7")
    return str(case.open_tasks[0].id)


def _picker(html: str, task_id: str) -> list[str]:
    row = html.split(f'data-task-id="{task_id}"', 1)[1].split("</tr>", 1)[0]
    return re.findall(r'<option value="([^"]+)">', row)


def test_a_team_lead_lands_on_the_team_view(pages: dict[str, PageClient]) -> None:
    assert pages["team_lead"].get("/").headers["location"] == "/team"


def test_the_picker_lists_the_eligible_users_only(
    ctx: AppContext, pages: dict[str, PageClient], task_id: str
) -> None:
    users.add_user(ctx, "tm2", "correct horse battery", ["agent", "telemarketing"])
    html = pages["team_lead"].get("/team?role=telemarketing").text
    assert _picker(html, task_id) == ["agent", "tm2"]  # holders of telemarketing
    users.set_team(ctx, "team_lead", "north")
    users.set_team(ctx, "tm2", "north")
    pages["team_lead"].login("team_lead")
    html = pages["team_lead"].get("/team?role=telemarketing").text
    assert _picker(html, task_id) == ["tm2"]  # and of the lead's team
    assert _picker(pages["admin"].get("/team?role=telemarketing").text, task_id) == [
        "agent",
        "tm2",
    ]


def test_the_assignee_reads_the_reason(pages: dict[str, PageClient], task_id: str) -> None:
    lead = pages["team_lead"]
    form = {"assignee": "agent", "reason": "knows this customer", "back": "/team?role=agent"}
    answer = lead.post(f"/team/tasks/{task_id}/assign", form)
    assert answer.headers["location"] == "/team?role=agent"
    html = pages["agent"].get(f"/tasks/{task_id}").text
    assert "team_lead gave you this task" in html and "knows this customer" in html
