"""The queue page at volume: counts, paging, filters (role, process, due state), search by
business key and customer, "next task" following the selected queue, the remembered filter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.web.queue import QUEUE_LIMIT
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

AGENT = actor("agent", "agent", "telemarketing")
ROW = re.compile(r'<tr data-task-id="([^"]+)" data-role="([^"]+)"')


def rows(html: str) -> list[tuple[str, str]]:
    return ROW.findall(html)


@pytest.fixture
def work(ctx: AppContext) -> dict[str, list[str]]:
    """60 telemarketing cases (three_steps) and 3 agent cases (no_lanes)."""
    deploy(ctx, "three_steps")
    deploy(ctx, "no_lanes")
    out: dict[str, list[str]] = {"telemarketing": [], "agent": []}
    for n in range(QUEUE_LIMIT + 10):
        data = {"customer_id": f"C-{n:03d}", "customer_name": f"Kunde {n}"}
        case = cases.start_case(ctx, AGENT, "three_steps", data, business_key=f"TM-{n:03d}")
        out["telemarketing"].append(case.open_tasks[0].id)
    for n in range(3):
        case = cases.start_case(ctx, AGENT, "no_lanes", {}, business_key=f"AG-{n}")
        out[case.open_tasks[0].role].append(case.open_tasks[0].id)
    return out


def test_the_queue_counts_pages_and_filters_by_role(
    pages: dict[str, PageClient], work: dict[str, list[str]]
) -> None:
    agent = pages["agent"]
    total = sum(len(v) for v in work.values())
    html = agent.get("/queue").text
    assert f"<strong>{total}</strong> open tasks" in html
    assert len(rows(html)) == QUEUE_LIMIT and "Page 1 of 2" in html
    second = agent.get("/queue?page=2").text
    assert len(rows(second)) == total - QUEUE_LIMIT
    assert not set(rows(html)) & set(rows(second))
    only = agent.get("/queue?role=telemarketing&page=2").text
    assert {r for _i, r in rows(only)} == {"telemarketing"}
    assert len(rows(only)) == len(work["telemarketing"]) - QUEUE_LIMIT
    assert agent.get("/queue?role=auditor").status_code == 200  # not theirs: the whole queue


def test_search_by_business_key_and_customer_name_any_case(
    pages: dict[str, PageClient], work: dict[str, list[str]]
) -> None:
    agent = pages["agent"]
    assert [i for i, _r in rows(agent.get("/queue?q=tm-007").text)] == [work["telemarketing"][7]]
    assert [i for i, _r in rows(agent.get("/queue?q=KUNDE 12").text)] == [work["telemarketing"][12]]
    assert [i for i, _r in rows(agent.get("/queue?q=c-013").text)] == [work["telemarketing"][13]]
    assert "No tasks match this filter." in agent.get("/queue?q=nobody%25").text


def test_due_state_filters(
    ctx: AppContext, clock, pages: dict[str, PageClient], work: dict[str, list[str]]
) -> None:
    agent = pages["agent"]
    total = sum(len(v) for v in work.values())
    assert "<strong>0</strong> open tasks" in agent.get("/queue?due=overdue").text
    clock.advance(timedelta(days=30))
    agent.login("agent")  # the session ended meanwhile
    assert f"<strong>{total}</strong> open tasks" in agent.get("/queue?due=overdue").text
    assert "<strong>0</strong> open tasks" in agent.get("/queue?due=later").text


def test_the_filter_is_remembered_and_next_task_follows_it(
    pages: dict[str, PageClient], work: dict[str, list[str]]
) -> None:
    agent = pages["agent"]
    agent.get("/queue?role=agent")
    assert {r for _i, r in rows(agent.get("/queue").text)} == {"agent"}  # remembered
    nxt = agent.get("/next")
    assert nxt.headers["location"].removeprefix("/tasks/") in work["agent"]
    agent.get("/queue?role=telemarketing")
    assert agent.get("/next").headers["location"].removeprefix("/tasks/") in work["telemarketing"]
    # another user in the same browser does not inherit it
    agent.client.cookies.set("rf_queue", "someone|role=agent")
    total = sum(len(v) for v in work.values())
    assert f"<strong>{total}</strong> open tasks" in agent.get("/queue").text
    assert len(rows(agent.get("/queue?clear=1").text)) == QUEUE_LIMIT
