"""Partner tests: the product bundle deployed, partner master data like the demo's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView, TaskView
from retention_flow.services.partners import organisations as partners
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.platform.demo import DEMO_PARTNERS
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
SCENARIOS = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]
LEAD_DATA: dict[str, Any] = SCENARIOS["sales_partner"]["start_data"]  # alpha, gamma, delta
ADMIN = Actor("ada", frozenset({"admin"}))
BACK = Actor("bea", frozenset({"back_office"}))
BACK2 = Actor("ben", frozenset({"back_office"}))

#: the demo's partners (restrictions mirror partner_eligibility.dmn), with small capacities
#: so tests reach them, and no minimum shares unless a test sets them
_CAPACITY = {"p_alpha": 50, "p_beta": 40, "p_gamma": 30, "p_delta": 20}
PARTNERS: dict[str, dict[str, Any]] = {
    pid: {
        **{k: v for k, v in spec.items() if k != "min_share"},
        "capacity_per_period": _CAPACITY[pid],
    }
    for pid, spec in DEMO_PARTNERS.items()
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


def only(case: CaseView, element: str) -> TaskView:
    [task] = [t for t in case.open_tasks if t.element_id == element]
    return task


def partner_case(
    ctx: AppContext,
    n: int,
    *,
    report: str | None = "retained",
    valid: bool | None = True,
    data: dict[str, Any] | None = None,
) -> CaseView:
    """A sales-partner case taken as far as asked: the partner reports, back office
    validates (another person), so settlement lines come from real history."""
    start = {**LEAD_DATA, **(data or {}), "case_number": f"RC-2026-{n:06d}-0"}
    case = cases.start_case(ctx, BACK, "sales_partner", start, business_key=start["case_number"])
    if report is None or case.status != "active":
        return case
    lead = only(case, "work_lead")
    worker = Actor(f"pia-{n}", frozenset({"partner"}), lead.partner)
    answer: dict[str, Any] = {"partner_outcome": report}
    if report == "retained":
        answer["offer_code"] = "DISCOUNT_10"
    case = tasks.complete(ctx, worker, lead.id, answer).case
    if valid is None or report != "retained":
        return case
    check = only(case, "validate_claim")
    form: dict[str, Any] = {"claim_valid": valid}
    if not valid:
        form["note"] = "customer denies"
    return tasks.complete(ctx, BACK2, check.id, form).case
