"""Partner tests: the product bundle deployed, partner master data like the demo's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services import cases, partners, processes, tasks
from retention_flow.services.context import Actor, AppContext
from tests.factories import OWNER

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
SCENARIOS = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]
LEAD_DATA: dict[str, Any] = SCENARIOS["sales_partner"]["start_data"]  # alpha, gamma, delta
ADMIN = Actor("ada", frozenset({"admin"}))
BACK = Actor("bea", frozenset({"back_office"}))
BACK2 = Actor("ben", frozenset({"back_office"}))

#: like the demo's partners (restrictions mirror partner_eligibility.dmn)
PARTNERS: dict[str, dict[str, Any]] = {
    "p_alpha": {
        "name": "Alpha Telesales",
        "capacity_per_period": 50,
        "products": ["mobile_s", "mobile_m", "mobile_l"],
        "regions": ["north", "east"],
        "min_contract_age_months": 6,
        "cost_per_lead_cents": 1500,
        "commission_cents": 3000,
        "quality": 0.30,
    },
    "p_beta": {
        "name": "Beta Direct",
        "capacity_per_period": 40,
        "regions": ["south", "west"],
        "cost_per_lead_cents": 1000,
        "commission_cents": 2500,
        "quality": 0.25,
    },
    "p_gamma": {
        "name": "Gamma Partners",
        "capacity_per_period": 30,
        "regions": ["north", "south"],
        "min_contract_age_months": 12,
        "cost_per_lead_cents": 2000,
        "commission_cents": 3500,
        "quality": 0.40,
    },
    "p_delta": {
        "name": "Delta Retail",
        "capacity_per_period": 20,
        "products": ["mobile_s", "mobile_m", "mobile_l"],
        "min_contract_age_months": 24,
        "cost_per_lead_cents": 800,
        "commission_cents": 2000,
        "quality": 0.20,
    },
}


@pytest.fixture
def pctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


@pytest.fixture
def seeded(pctx: AppContext) -> AppContext:
    for partner_id, values in PARTNERS.items():
        partners.save_partner(pctx, ADMIN, partner_id, values)
    return pctx


def only(case: dict[str, Any], element: str) -> dict[str, Any]:
    [task] = [t for t in case["open_tasks"] if t["element_id"] == element]
    return task


def partner_case(
    ctx: AppContext,
    n: int,
    *,
    report: str | None = "retained",
    valid: bool | None = True,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A sales-partner case taken as far as asked: the partner reports, back office
    validates (another person), so settlement lines come from real history."""
    start = {**LEAD_DATA, **(data or {}), "case_number": f"RC-2026-{n:06d}-0"}
    case = cases.start_case(ctx, BACK, "sales_partner", start, business_key=start["case_number"])
    if report is None or case["status"] != "active":
        return case
    lead = only(case, "work_lead")
    worker = Actor(f"pia-{n}", frozenset({"partner"}), lead["partner"])
    answer: dict[str, Any] = {"partner_outcome": report}
    if report == "retained":
        answer["offer_code"] = "DISCOUNT_10"
    case = tasks.complete(ctx, worker, lead["id"], answer)["case"]
    if valid is None or report != "retained":
        return case
    check = only(case, "validate_claim")
    form: dict[str, Any] = {"claim_valid": valid}
    if not valid:
        form["note"] = "customer denies"
    return tasks.complete(ctx, BACK2, check["id"], form)["case"]
