"""The what-if through the API, on a period recorded through the real services
(tests/whatif_record.py: 100 cases of ``three_steps``, 3 agents, 12 min per task).

Reproduction: at 1x with the recorded staffing, the simulated SLA adherence of the
telemarketing queue is within ``TOLERANCE`` of the recorded one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from retention_flow.core.clock import FrozenClock, utc_iso
from retention_flow.services.platform.context import AppContext
from tests.factories import deploy
from tests.whatif_record import record_period

#: the largest difference between simulated and recorded adherence at 1x (absolute)
TOLERANCE = 0.10
DAY = datetime(2026, 1, 6, tzinfo=UTC)  # a Tuesday


def _recorded(ctx: AppContext, clock: FrozenClock) -> dict[str, str]:
    clock.set(DAY)
    deploy(ctx, "three_steps")
    start, end = record_period(ctx, clock, DAY, cases_n=100, agents=3, handling=12.0, seed=5)
    return {"from": utc_iso(start), "to": utc_iso(end)}


def test_reproduces_the_recorded_sla_at_1x_and_is_deterministic(
    ctx: AppContext, clock: FrozenClock, client: TestClient, add_user: Callable[..., Any]
) -> None:
    period = _recorded(ctx, clock)
    lead = add_user("lead", ["team_lead"])
    body = {**period, "volume": 1, "seed": 3, "suggest": False}
    first = client.post("/api/whatif", json=body, headers=lead)
    assert first.status_code == 200, first.text
    answer = first.json()
    queue = {q["role"]: q for q in answer["queues"]}["telemarketing"]
    recorded = answer["measured"]["recorded_sla"]["telemarketing"]
    assert recorded["tasks"] > 180  # call + offer (+ confirmation)
    assert abs(queue["tasks"] - recorded["tasks"]) <= 0.1 * recorded["tasks"]
    assert abs(queue["adherence"] - recorded["adherence"]) <= TOLERANCE, (queue, recorded)
    print("1x:", queue, recorded)
    assert max(answer["staffing"]["telemarketing"]) == 3  # the three agents, measured
    again = client.post("/api/whatif", json=body, headers=lead).json()
    assert again["queues"] == answer["queues"] and again["series"] == answer["series"]
    other = client.post("/api/whatif", json={**body, "seed": 4}, headers=lead).json()
    assert other["series"] != answer["series"]


def test_more_volume_breaks_the_sla_and_the_suggestion_restores_it(
    ctx: AppContext, clock: FrozenClock, client: TestClient, add_user: Callable[..., Any]
) -> None:
    period = _recorded(ctx, clock)
    owner = add_user("olga", ["process_owner"])
    body = {**period, "volume": 10, "sla_target": 0.9}
    answer = client.post("/api/whatif", json=body, headers=owner).json()
    queue = {q["role"]: q for q in answer["queues"]}["telemarketing"]
    assert (
        queue["adherence"] < 0.5
        and max(s["backlog"] for s in answer["series"]["telemarketing"]) > 100
    )
    hint = answer["suggestion"]
    assert hint["met"] and hint["adherence"]["telemarketing"] >= 0.9
    agents = hint["agents"]["telemarketing"]
    assert agents > 3
    fewer = {**body, "suggest": False, "staffing": {"telemarketing": agents - 1}}
    short = client.post("/api/whatif", json=fewer, headers=owner).json()
    assert {q["role"]: q for q in short["queues"]}["telemarketing"]["adherence"] < 0.9
    csv = client.post("/api/whatif?format=csv", json=body, headers=owner)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "role,hour,arrivals,completed,backlog,wait_mean_seconds,adherence"
    assert len(lines) - 1 == len(answer["series"]["telemarketing"])


def test_roles_and_strict_body(
    ctx: AppContext, clock: FrozenClock, client: TestClient, add_user: Callable[..., Any]
) -> None:
    clock.set(DAY)
    body = {"from": utc_iso(DAY), "to": utc_iso(DAY.replace(day=7)), "suggest": False}
    for role in ("agent", "auditor", "back_office"):
        refused = client.post("/api/whatif", json=body, headers=add_user(f"u-{role}", [role]))
        assert refused.status_code == 403, role
    assert client.post("/api/whatif", json=body).status_code == 401
    lead = add_user("lead", ["team_lead"])
    assert client.post("/api/whatif", json=body, headers=lead).status_code == 200
    for bad in ({"volume": 51}, {"volume": 0.5}, {"colour": 1}, {"staffing": {"x": [1] * 23}}):
        response = client.post("/api/whatif", json={**body, **bad}, headers=lead)
        assert response.status_code == 422, bad
    unknown = client.post("/api/whatif", json={**body, "staffing": {"nobody": 2}}, headers=lead)
    assert unknown.status_code == 422
