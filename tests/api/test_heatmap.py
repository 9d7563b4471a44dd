"""The heatmap of a process version: a known answer built by hand, through the API.

Three cases of ``three_steps`` v1 (due times: call and offer PT4H, confirmation PT8H, in
calendar time) and one of a v2 whose script fails (an incident):

- A: call done after 1 h, offer accepted 1 h later, confirmation 10 h after that (late);
- B: call done after 30 min, offer declined 5 h later (late);
- C: the call is still open a day later (late).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from retention_flow.core.clock import FrozenClock, utc_iso
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, CASE
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.factories import actor, bundle_files, deploy

URL = "/api/processes/three_steps/versions/{v}/heatmap"
AGENT = actor("alice", "agent", "telemarketing")


def _fixture(ctx: AppContext, clock: FrozenClock) -> dict[str, Any]:
    deploy(ctx, "three_steps")
    t0 = clock.now()
    a, b, c = (cases.start_case(ctx, AGENT, "three_steps", {}, version=1) for _ in range(3))
    clock.advance(timedelta(minutes=30))
    nxt = tasks.complete(ctx, AGENT, a_task(b), {"call_result": "reached"})
    b_offer = nxt.next_tasks[0].id
    clock.advance(timedelta(minutes=30))  # +1h
    a_offer = tasks.complete(ctx, AGENT, a_task(a), {"call_result": "reached"}).next_tasks[0]
    clock.advance(timedelta(hours=1))  # +2h
    confirm = tasks.complete(ctx, AGENT, a_offer.id, {"offer_response": "accepted"})
    clock.advance(timedelta(hours=3, minutes=30))  # +5h30
    tasks.complete(ctx, AGENT, b_offer, {"offer_response": "declined"})
    clock.advance(timedelta(hours=6, minutes=30))  # +12h
    tasks.complete(ctx, AGENT, confirm.next_tasks[0].id, {"confirmation_channel": "sms"})
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(b"score = 42", b"score = 1 // d")
    processes.deploy(ctx, files, actor("olga", "process_owner"))
    cases.start_case(ctx, AGENT, "three_steps", {"d": 0}, version=2)
    clock.advance(timedelta(hours=12))  # +24h: C's call is 20 h late
    return {"t0": t0, "ids": (a.id, b.id, c.id)}


def a_task(case: CaseView) -> str:
    return str(case.open_tasks[0].id)


def _by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["element_id"]: e for e in body["elements"]}


def test_heatmap_known_answer(
    ctx: AppContext, clock: FrozenClock, client: TestClient, add_user: Callable[..., Any]
) -> None:
    fx = _fixture(ctx, clock)
    headers = {r: add_user(r, [r]) for r in ("process_owner", "auditor")}
    t0 = fx["t0"]
    params = {"from": utc_iso(t0), "to": utc_iso(t0 + timedelta(days=1))}
    response = client.get(URL.format(v=1), params=params, headers=headers["process_owner"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cases"] == 3 and body["from"] == utc_iso(t0)
    e = _by_id(body)
    assert e["prepare_case"]["cases"] == 3 and e["prepare_case"]["times"] == 3
    call = e["call_customer"]
    assert (call["cases"], call["entered"], call["waits"]) == (2, 3, 2)
    assert (call["wait_p50_seconds"], call["wait_p95_seconds"]) == (1800.0, 3600.0)
    assert call["sla_breaches"] == 1  # C, open past its due time
    offer = e["present_offer"]
    assert (offer["cases"], offer["wait_p50_seconds"], offer["wait_p95_seconds"]) == (
        2,
        3600.0,
        18000.0,
    )
    assert offer["sla_breaches"] == 1  # B: 5 h for a 4 h task
    confirm = e["confirm_change"]
    assert (confirm["cases"], confirm["wait_p50_seconds"], confirm["sla_breaches"]) == (
        1,
        36000.0,
        1,
    )
    assert e["gw_offer_accepted"]["cases"] == 2
    assert e["end_retained"]["cases"] == 1 and e["end_lost"]["cases"] == 1
    assert all(x["incidents"] == 0 for x in body["elements"])
    flows = {f["flow_id"]: f["cases"] for f in body["flows"]}
    assert flows["flow_prepared"] == 3 and flows["flow_called"] == 2
    assert flows["flow_presented"] == 2
    assert (flows["flow_accepted"], flows["flow_declined"], flows["flow_confirmed"]) == (1, 1, 1)
    assert flows["flow_start"] == e["start_event"]["cases"] == 3

    # the counts are the audit trail's: the same figures counted event by event
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(AUDIT_EVENT.c.type, AUDIT_EVENT.c.element_id, AUDIT_EVENT.c.detail)
            .join(CASE, CASE.c.id == AUDIT_EVENT.c.case_id)
            .where(CASE.c.process_version == 1)
        ).all()
    passed: Counter[str] = Counter()
    for kind, element, detail in rows:
        if kind == "task_completed":
            passed[element] += 1
        elif kind == "engine_steps":
            passed.update((detail or {}).get("elements", []))
    assert {k: v["times"] for k, v in e.items() if v["times"]} == dict(passed)

    # v2: the failing script is an incident at prepare_case
    v2 = client.get(URL.format(v=2), params=params, headers=headers["auditor"]).json()
    assert _by_id(v2)["prepare_case"]["incidents"] == 1 and v2["cases"] == 1


def test_heatmap_period_filter(
    ctx: AppContext, clock: FrozenClock, client: TestClient, add_user: Callable[..., Any]
) -> None:
    t0 = _fixture(ctx, clock)["t0"]
    headers = {"team_lead": add_user("team_lead", ["team_lead"])}
    params = {"from": utc_iso(t0 + timedelta(hours=3)), "to": utc_iso(t0 + timedelta(days=1))}
    body = client.get(URL.format(v=1), params=params, headers=headers["team_lead"]).json()
    e = _by_id(body)
    assert body["cases"] == 2  # A (confirmation) and B (declined) had events then
    assert e["call_customer"]["cases"] == 0 and e["present_offer"]["cases"] == 1
    assert e["present_offer"]["wait_p50_seconds"] == 18000.0  # ready before, done inside
    assert e["confirm_change"]["cases"] == 1
    assert all(x["sla_breaches"] == 0 for x in body["elements"])  # none became ready then
    flows = {f["flow_id"]: f["cases"] for f in body["flows"]}
    assert flows["flow_declined"] == 1 and flows["flow_accepted"] == 0


def test_heatmap_refusals(
    ctx: AppContext, client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    deploy(ctx, "three_steps")
    owner = headers["process_owner"]
    empty = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    response = client.get(URL.format(v=1), params=empty, headers=owner)
    assert response.status_code == 422 and response.json()["code"] == "validation_failed"
    assert client.get(URL.format(v=9), headers=owner).status_code == 404
    bad = client.get(URL.format(v=1), params={"from": "yesterday"}, headers=owner)
    assert bad.status_code == 422
    assert client.get(URL.format(v=1), headers=headers["agent"]).status_code == 403
