"""Outcome-based "next task" through the API, with rates learned from completed cases:
an at-risk task is offered before a better-matched one, a better-matched one otherwise,
a new agent gets work because their rate is shrunk towards the team's, and every offer
is recorded for a lead's review."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from retention_flow.core.clock import FrozenClock
from retention_flow.services.platform.context import AppContext
from tests.routing.conftest import advance

Auth = Callable[[str], dict[str, str]]
Start = Callable[..., dict[str, Any]]
ACCEPTED = {"reached": True, "call_outcome": "accepted"}
DECLINED = {"reached": True, "call_outcome": "declined", "reason": "price"}


def work(api: TestClient, auth: Auth, agent: str, case: dict[str, Any], retained: bool) -> None:
    task = case["open_tasks"][0]["id"]
    assert api.post(f"/api/tasks/{task}/claim", headers=auth(agent)).status_code == 200
    done = api.post(
        f"/api/tasks/{task}/complete",
        json={"data": ACCEPTED if retained else DECLINED},
        headers=auth(agent),
    )
    assert done.status_code == 200, done.text
    assert done.json()["case"]["outcome"] == ("retained" if retained else "lost")


def history(api: TestClient, auth: Auth, start: Start, record: dict[str, list[bool]]) -> None:
    """``{"tom/fibre": [True, True], ...}``: cases of that segment worked by that agent."""
    for key, outcomes in record.items():
        agent, segment = key.split("/")
        for retained in outcomes:
            work(api, auth, agent, start(segment), retained)


def test_an_at_risk_task_comes_before_a_better_matched_one(
    api: TestClient, auth: Auth, start: Start, clock: FrozenClock
) -> None:
    history(
        api,
        auth,
        start,
        {
            "tom/fibre": [True] * 4,
            "ann/fibre": [False] * 4,
            "tom/standard": [False] * 2,
            "ann/standard": [True] * 2,
        },
    )
    urgent = start("standard")["open_tasks"][0]
    advance(clock, hours=3, minutes=40)  # due after 4 h: now 20 min left, at risk
    matched = start("fibre")["open_tasks"][0]

    first = api.post("/api/tasks/next", headers=auth("tom")).json()
    assert first["task"]["id"] == urgent["id"]
    assert first["offer"]["rule"] == "sla"
    assert "at risk" in first["offer"]["reason"]
    api.post(f"/api/tasks/{urgent['id']}/complete", json={"data": DECLINED}, headers=auth("tom"))

    second = api.post("/api/tasks/next", headers=auth("tom")).json()
    assert second["task"]["id"] == matched["id"]
    assert second["offer"]["rule"] == "outcome"
    assert "best match" in second["offer"]["reason"]
    assert "fibre" in second["offer"]["reason"]


def test_each_agent_is_offered_the_segment_they_beat_the_team_in(
    api: TestClient, auth: Auth, start: Start
) -> None:
    history(
        api,
        auth,
        start,
        {
            "tom/fibre": [True] * 5,
            "ann/fibre": [False] * 5,
            "tom/standard": [False] * 5,
            "ann/standard": [True] * 5,
        },
    )
    fibre = start("fibre")["open_tasks"][0]["id"]
    standard = start("standard")["open_tasks"][0]["id"]
    # the standard task is older and due first: FIFO would give it to whoever asks first
    assert api.post("/api/tasks/next", headers=auth("tom")).json()["task"]["id"] == fibre
    assert api.post("/api/tasks/next", headers=auth("ann")).json()["task"]["id"] == standard


def test_shrinkage_gives_a_new_agent_work(
    rctx: AppContext, api: TestClient, auth: Auth, start: Start
) -> None:
    history(api, auth, start, {"tom/standard": [True] * 6, "ann/standard": [True, False] * 3})
    task = start("standard")["open_tasks"][0]["id"]

    # without a prior, no history reads as a rate of 0: held from every task not at risk
    rctx.settings = rctx.settings.model_copy(update={"routing_prior_strength": 0.0})
    starved = api.post("/api/tasks/next", headers=auth("new")).json()
    assert starved["task"] is None
    assert starved["held"] == 1

    rctx.settings = rctx.settings.model_copy(update={"routing_prior_strength": 20.0})
    fed = api.post("/api/tasks/next", headers=auth("new")).json()
    assert fed["task"]["id"] == task
    assert fed["offer"]["rule"] == "outcome"
    assert "no history yet" in fed["offer"]["reason"]


def test_exploration_uses_the_injected_generator_and_every_offer_is_recorded(
    rctx: AppContext, api: TestClient, auth: Auth, start: Start
) -> None:
    history(api, auth, start, {"ann/standard": [True]})  # something learned: exploring pays
    rctx.settings = rctx.settings.model_copy(update={"routing_exploration": 1.0})
    rctx.routing_rng = random.Random(3)
    ids = [start("standard")["open_tasks"][0]["id"] for _ in range(3)]
    expected = random.Random(3)
    expected.random()
    pick = expected.choice(sorted(ids))  # all due at once: ordered by task id
    offered = api.post("/api/tasks/next", headers=auth("tom")).json()
    assert offered["offer"]["rule"] == "explore"
    assert offered["task"]["id"] == pick

    review = api.get("/api/routing/offers", headers=auth("lead")).json()
    assert review["count"] == 1
    decision = review["data"][0]
    assert (decision["username"], decision["task_id"], decision["rule"]) == ("tom", pick, "explore")
    assert decision["segment"] == "standard"
    assert review["by_agent"] == [
        {"username": "tom", "offers": 1, "by_rule": {"explore": 1}, "by_segment": {"standard": 1}}
    ]
    assert api.get("/api/routing/offers", headers=auth("tom")).status_code == 403
