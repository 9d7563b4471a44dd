"""The partner, allocation, settlement and KPI routes over HTTP (roles: see the matrix)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.partners.conftest import PARTNERS, partner_case


@pytest.fixture
def admin(add_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return add_user("root", ["admin"])


def test_partners_are_added_changed_and_listed(client: TestClient, admin: dict) -> None:
    body = {"id": "p_alpha", **PARTNERS["p_alpha"]}
    created = client.post("/api/partners", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["remaining_capacity"] == 50
    changed = client.post("/api/partners", json={"id": "p_alpha", "quality": 0.5}, headers=admin)
    assert changed.status_code == 200 and changed.json()["quality"] == 0.5
    listed = client.get("/api/partners", headers=admin).json()
    assert listed["count"] == 1 and listed["data"][0]["capacity_per_period"] == 50
    bad = client.post("/api/partners", json={"id": "p_x", "name": "X"}, headers=admin)
    body = assert_problem(bad, 422, "validation_failed")
    assert {"field": "capacity_per_period", "message": "required"} in body["errors"]


def test_allocate_over_http(client: TestClient, admin: dict, seeded: AppContext) -> None:
    leads = [
        {
            "lead_id": f"L{i}",
            "product": "fixed_fibre",
            "region": "west",
            "contract_age_months": 3,
            "monthly_revenue_cents": 4000,
        }
        for i in range(3)
    ] + [
        {
            "lead_id": "X",
            "product": "fixed_fibre",
            "region": "east",
            "contract_age_months": 3,
            "value_cents": 50_000,
        }
    ]
    response = client.post("/api/partners/allocate", json={"leads": leads}, headers=admin)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["solver"] == "highs_milp" and result["fallback_reason"] is None
    assert result["assignments"] == {"L0": "p_beta", "L1": "p_beta", "L2": "p_beta"}
    assert "p_beta: region east not served" in result["unassigned"]["X"]


def test_settlement_run_over_http(
    client: TestClient, admin: dict, seeded: AppContext, add_user: Callable
) -> None:
    partner_case(seeded, 1)
    run = client.post("/api/partners/settlements/run", json={"period": "2026-01"}, headers=admin)
    assert run.status_code == 200, run.text
    assert run.json()["added"] == {"p_gamma": 1}
    auditor = add_user("audrey", ["auditor"])
    listed = client.get("/api/partners/settlements?period=2026-01", headers=auditor).json()
    assert listed["count"] == 1 and listed["data"][0]["total_cents"] == 3500
    statement_id = listed["data"][0]["id"]
    draft = client.get(f"/api/partners/settlements/{statement_id}", headers=auditor).json()
    assert draft["status"] == "draft" and draft["hash_ok"] is None
    assert [e["amount_cents"] for e in draft["entries"]] == [3500]
    # the auditor reviews, and may not approve; the admin approves once
    denied = client.post(f"/api/partners/settlements/{statement_id}/approve", headers=auditor)
    assert_problem(denied, 403, "forbidden")
    # four eyes: the admin ran the statement, so the admin may not approve it
    own = client.post(f"/api/partners/settlements/{statement_id}/approve", headers=admin)
    assert "someone else must approve it" in assert_problem(own, 403, "forbidden")["detail"]
    finance = add_user("fiona", ["back_office"])
    approved = client.post(f"/api/partners/settlements/{statement_id}/approve", headers=finance)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["hash_ok"] is True
    again = client.post(f"/api/partners/settlements/{statement_id}/approve", headers=finance)
    assert_problem(again, 409, "conflict")
    exported = client.get(f"/api/partners/settlements/{statement_id}/export", headers=auditor)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    header, line = exported.text.splitlines()
    assert "statement_hash" in header and approved.json()["hash"] in line
    missing = client.get("/api/partners/settlements/nope/export", headers=auditor)
    assert_problem(missing, 404, "not_found")


def test_kpis_as_json_and_csv(seeded: AppContext, client: TestClient, add_user: Callable) -> None:
    partner_case(seeded, 1)
    lead = add_user("lena", ["team_lead"])
    params = "start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z"
    answer = client.get(f"/api/kpis?{params}&group_by=channel,partner", headers=lead)
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["data"]
    assert row["group"] == {"channel": "partner", "partner": "p_gamma"}
    assert row["retention_rate"] == 1.0 and row["volume"] == 1
    as_csv = client.get(f"/api/kpis?{params}&group_by=partner&format=csv", headers=lead)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("partner,volume,ended,retained")
    bad = client.get(f"/api/kpis?{params}&group_by=colour", headers=lead)
    assert_problem(bad, 422, "validation_failed")
    card = client.get(f"/api/kpis/scorecard?{params}", headers=lead)
    assert card.status_code == 200 and card.json()["count"] >= 1
