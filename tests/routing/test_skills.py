"""Segments and skills through the API: the case gets its segment from the bundle's
table, a task that needs a language is not offered, not claimable (403) and not
assignable (409) to an agent without it, until a team lead gives the skill."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT
from retention_flow.services.platform.context import AppContext

Auth = Callable[[str], dict[str, str]]


def test_the_case_and_its_tasks_carry_the_segment_of_the_table(
    api: TestClient, auth: Auth, start: Callable[..., dict[str, Any]]
) -> None:
    vip = start("vip_at_risk")
    plain = start("standard")
    assert vip["segment"] == "vip_at_risk"
    assert plain["segment"] == "standard"
    assert vip["open_tasks"][0]["segment"] == "vip_at_risk"
    got = api.get(f"/api/cases/{vip['id']}", headers=auth("lead")).json()
    assert got["segment"] == "vip_at_risk"
    queue = api.get("/api/tasks", headers=auth("tom")).json()["data"]
    assert {t["segment"] for t in queue} == {"vip_at_risk", "standard"}


def test_a_task_needing_a_language_is_refused_until_the_lead_gives_the_skill(
    rctx: AppContext, api: TestClient, auth: Auth, start: Callable[..., dict[str, Any]]
) -> None:
    case = start("standard", language="fr")
    task = case["open_tasks"][0]
    assert task["required_skills"] == [{"kind": "language", "value": "fr", "min": 1}]

    queue = api.get("/api/tasks", headers=auth("tom")).json()["data"]
    assert queue[0]["not_offered"] == "needs the skill language fr"
    claim = api.post(f"/api/tasks/{task['id']}/claim", headers=auth("tom"))
    assert claim.status_code == 403
    assert claim.json()["code"] == "skills_missing"
    assert "language fr" in claim.json()["detail"]
    nothing = api.post("/api/tasks/next", headers=auth("tom")).json()
    assert nothing["task"] is None
    assign = api.post(
        f"/api/tasks/{task['id']}/assign",
        json={"assignee": "tom", "reason": "he speaks it"},
        headers=auth("lead"),
    )
    assert assign.status_code == 409
    assert "language fr" in assign.json()["detail"]

    given = api.put("/api/skills/tom/language/fr", json={"proficiency": 2}, headers=auth("lead"))
    assert given.status_code == 200, given.text
    assert api.get("/api/tasks", headers=auth("tom")).json()["data"][0]["not_offered"] is None
    taken = api.post("/api/tasks/next", headers=auth("tom")).json()
    assert taken["task"]["id"] == task["id"]
    assert taken["task"]["claimed_by"] == "tom"

    mine = api.get("/api/skills", headers=auth("tom")).json()["data"]
    assert [(s["kind"], s["value"], s["proficiency"]) for s in mine] == [("language", "fr", 2)]
    assert api.delete("/api/skills/tom/language/fr", headers=auth("lead")).status_code == 204
    with read_session(rctx.db) as session:
        types = session.execute(
            select(AUDIT_EVENT.c.type, AUDIT_EVENT.c.actor).where(
                AUDIT_EVENT.c.type.in_(("skill_set", "skill_removed"))
            )
        ).all()
    assert sorted(types) == [("skill_removed", "lead"), ("skill_set", "lead")]


def test_a_case_without_a_language_needs_no_skill_and_agents_cannot_edit_skills(
    api: TestClient, auth: Auth, start: Callable[..., dict[str, Any]]
) -> None:
    task = start("standard")["open_tasks"][0]
    assert task["required_skills"] == []
    assert api.post(f"/api/tasks/{task['id']}/claim", headers=auth("tom")).status_code == 200
    refused = api.put("/api/skills/tom/language/de", json={"proficiency": 5}, headers=auth("tom"))
    assert refused.status_code == 403
    bad = api.put("/api/skills/tom/language/de", json={"proficiency": 9}, headers=auth("lead"))
    assert bad.status_code == 422
    assert api.get("/api/skills?username=ann", headers=auth("tom")).status_code == 403
