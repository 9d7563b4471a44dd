"""QA reviews and incentive payouts over the HTTP API, on the fixture week (March 2026):
tom closed 12 cases (A0-A9, F0, H2), ina 6 (B0-B5), bob 2 (E0, E1)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from retention_flow.core.clock import FrozenClock
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.incentives.conftest import BUNDLE, OWNER
from tests.integration.kpi_fixture import T0

Api = Callable[[str], tuple[TestClient, dict[str, str]]]
YES = {
    "greeting": True,
    "identity_verified": True,
    "reason_understood": True,
    "offer_explained": True,
    "outcome_recorded": True,
    "compliance": True,
}


def _draw(api: Api) -> list[dict[str, Any]]:
    client, lead = api("lead")
    drawn = client.post("/api/qa/samples", json={"period": "2026-03"}, headers=lead)
    assert drawn.status_code == 201, drawn.text
    assert drawn.json()["samples"] == 6 and drawn.json()["reviews"] == 12  # 3 agents x 2 x 2
    again = client.post("/api/qa/samples", json={"period": "2026-03"}, headers=lead)
    assert again.status_code == 409
    return list(client.get("/api/qa/reviews?period=2026-03", headers=lead).json()["data"])


def test_a_stratified_sample_never_goes_to_the_agent(api: Api) -> None:
    reviews = _draw(api)
    assert all(r["reviewer"] != r["agent"] for r in reviews)
    assert {r["agent"] for r in reviews} == {"tom", "ina", "bob"}
    toms = {r["stratum"] for r in reviews if r["agent"] == "tom"}
    assert len(toms) == 2  # two strata (channel/outcome) of tom's cases, one sample each
    pairs: dict[str, set[str]] = {}
    for r in reviews:
        pairs.setdefault(r["sample_id"], set()).add(r["reviewer"])
    assert all(len(p) == 2 for p in pairs.values())  # qa_double_share = 1


def test_reviews_score_the_scorecard_and_agreement_is_reported(api: Api, week: AppContext) -> None:
    reviews = _draw(api)
    sample = next(r for r in reviews if r["agent"] == "tom")
    pair = [r for r in reviews if r["sample_id"] == sample["sample_id"]]
    client, lead = api("lead")
    period = "start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z"
    before = client.get(f"/api/kpis/scorecard?{period}", headers=lead).json()["data"]
    tom_before = next(c for c in before if c["agent"] == "tom")
    assert tom_before["qa_reviews"] == 0
    first, second = pair
    c1, h1 = api(first["reviewer"])
    bad = c1.post(
        f"/api/qa/reviews/{first['id']}", json={"answers": {"greeting": True}}, headers=h1
    )
    assert bad.status_code == 422 and "identity_verified" in bad.text
    done = c1.post(f"/api/qa/reviews/{first['id']}", json={"answers": YES}, headers=h1)
    assert done.status_code == 200 and done.json()["score"] == 1.0
    c2, h2 = api(second["reviewer"])
    half = YES | {"offer_explained": False, "compliance": False, "note": "two slips"}
    assert c2.post(f"/api/qa/reviews/{second['id']}", json={"answers": half}, headers=h2).json()[
        "score"
    ] == round(4 / 6, 6)
    again = c2.post(f"/api/qa/reviews/{second['id']}", json={"answers": YES}, headers=h2)
    assert again.status_code == 409
    after = client.get(f"/api/kpis/scorecard?{period}", headers=lead).json()["data"]
    tom_after = next(c for c in after if c["agent"] == "tom")
    quality = next(c for c in tom_after["components"] if c["kpi"] == "quality")
    assert tom_after["qa_reviews"] == 2 and quality["value"] == round((1 + 4 / 6) / 2, 6)
    assert tom_after["score"] != tom_before["score"]
    agreement = client.get("/api/qa/agreement?period=2026-03", headers=lead).json()
    assert agreement["double_reviewed"] == 1 and agreement["item_agreement"] == round(4 / 6, 6)
    # tom sees his own reviews, not ina's; a reviewer cannot do someone else's review
    tom, tom_h = api("tom")
    mine = tom.get("/api/qa/reviews", headers=tom_h).json()["data"]
    assert mine and {r["agent"] for r in mine} == {"tom"}
    other = next(r for r in reviews if r["reviewer"] != first["reviewer"] and r["state"] == "open")
    stolen = c1.post(f"/api/qa/reviews/{other['id']}", json={"answers": YES}, headers=h1)
    assert stolen.status_code in (403, 404)


def test_payouts_four_eyes_corrections_and_payroll(api: Api) -> None:
    client, lead = api("lead")
    ran = client.post("/api/payouts/run", json={"period": "2026-03"}, headers=lead)
    assert ran.status_code == 201, ran.text
    statements = {s["agent"]: s for s in ran.json()["data"]}
    assert set(statements) == {"tom", "ina", "bob"}
    tom = statements["tom"]
    kinds = [c["kpi"] for c in tom["components"]]
    assert kinds[:4] == ["retention_rate", "service_level", "first_contact_resolution", "quality"]
    assert tom["amount_cents"] == round(tom["points"] * 250)  # below 100 points: tier 1.0
    own = client.post(f"/api/payouts/{tom['id']}/approve", headers=lead)
    assert own.status_code == 403 and "someone else must approve" in own.json()["detail"]
    other, lead2 = api("lead2")
    approved = other.post(f"/api/payouts/{tom['id']}/approve", headers=lead2)
    assert approved.status_code == 200 and approved.json()["hash_ok"] is True
    assert other.post(f"/api/payouts/{tom['id']}/approve", headers=lead2).status_code == 409
    # running again replaces drafts, never the approved statement
    rerun = client.post("/api/payouts/run", json={"period": "2026-03"}, headers=lead).json()
    assert {s["id"] for s in rerun["data"] if s["agent"] == "tom"} == {tom["id"]}
    fix = other.post(
        f"/api/payouts/{tom['id']}/corrections",
        json={"amount_cents": -500, "reason": "A3 was retained by the back office"},
        headers=lead2,
    )
    assert fix.status_code == 201 and fix.json()["kind"] == "correction"
    assert other.post(f"/api/payouts/{fix.json()['id']}/approve", headers=lead2).status_code == 403
    assert client.post(f"/api/payouts/{fix.json()['id']}/approve", headers=lead).status_code == 200
    payroll = client.get("/api/payouts/export?period=2026-03", headers=lead)
    rows = list(csv.DictReader(io.StringIO(payroll.text)))
    assert [(r["agent"], r["kind"], r["amount_cents"]) for r in rows] == [
        ("tom", "statement", str(tom["amount_cents"])),
        ("tom", "correction", "-500"),
    ]
    agent, tom_h = api("tom")
    mine = agent.get("/api/payouts", headers=tom_h).json()["data"]
    assert {s["agent"] for s in mine} == {"tom"} and len(mine) == 2
    assert (
        agent.post("/api/payouts/run", json={"period": "2026-03"}, headers=tom_h).status_code == 403
    )


def test_a_plan_change_applies_from_the_next_period(
    api: Api, week: AppContext, clock: FrozenClock
) -> None:
    client, lead = api("lead")
    first = client.post("/api/payouts/run", json={"period": "2026-03"}, headers=lead).json()
    old_plan = first["data"][0]["plan_deployment_id"]
    clock.set(T0 + timedelta(days=3))  # mid-March: a richer plan is deployed
    files = load_bundle_path(BUNDLE)
    manifest = json.loads(files["bundle.json"])
    manifest["incentive_plan"]["money_per_point_cents"] = 1000
    processes.deploy(week, {**files, "bundle.json": json.dumps(manifest).encode()}, OWNER)
    march = client.post("/api/payouts/run", json={"period": "2026-03"}, headers=lead).json()
    assert {s["plan_deployment_id"] for s in march["data"]} == {old_plan}
    april = client.post("/api/payouts/run", json={"period": "2026-04"}, headers=lead)
    assert april.status_code == 201  # nobody worked in April: no statements, but its plan
    assert (
        client.post("/api/payouts/run", json={"period": "2026-02"}, headers=lead).status_code == 409
    )
