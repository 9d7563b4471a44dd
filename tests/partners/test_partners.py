"""Partner master data, allocation runs, and the sales-partner process's allocation step
on the partner table: capacity counted, best partner chosen, every run audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from retention_flow.core.errors import Conflict, ValidationFailed
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, LEAD_ALLOCATION, SETTLEMENT_LINE
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.partners import allocation_runs as partner_allocation
from retention_flow.services.partners import organisations as partners
from retention_flow.services.platform.context import AppContext
from tests.partners.conftest import ADMIN, BACK, LEAD_DATA, partner_case


def _system_events(ctx: AppContext, type_: str) -> list[Any]:
    with read_session(ctx.db) as session:
        return list(
            session.execute(
                select(AUDIT_EVENT)
                .where(AUDIT_EVENT.c.stream == "system", AUDIT_EVENT.c.type == type_)
                .order_by(AUDIT_EVENT.c.seq)
            ).mappings()
        )


def test_partners_are_created_changed_and_audited(pctx: AppContext) -> None:
    created = partners.save_partner(
        pctx,
        ADMIN,
        "p_new",
        {
            "name": "New",
            "capacity_per_period": 5,
            "cost_per_lead_cents": 100,
            "commission_cents": 900,
            "regions": ["north"],
        },
    ).model_dump()
    assert created["created"] and created["remaining_capacity"] == 5
    assert created["quality"] == 0.3 and created["products"] == []
    changed = partners.save_partner(pctx, ADMIN, "p_new", {"capacity_per_period": 7}).model_dump()
    assert not changed["created"] and changed["capacity_per_period"] == 7
    events = _system_events(pctx, "partner_saved")
    assert [e["data_after"] for e in events][-1] == {"capacity_per_period": 7}
    assert events[-1]["data_before"] == {"capacity_per_period": 5}
    listed, count = partners.list_partners(pctx)
    data = [p.model_dump() for p in listed]
    assert count == 1 and data[0]["id"] == "p_new"
    with read_session(pctx.db) as session:
        assert audit.verify(session).ok


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "x"}, "capacity_per_period"),
        (
            {
                "name": "x",
                "capacity_per_period": -1,
                "cost_per_lead_cents": 1,
                "commission_cents": 1,
            },
            "capacity_per_period",
        ),
        (
            {
                "name": "x",
                "capacity_per_period": 1,
                "cost_per_lead_cents": 1,
                "commission_cents": 1,
                "quality": 1.5,
            },
            "quality",
        ),
        (
            {
                "name": "x",
                "capacity_per_period": 1,
                "cost_per_lead_cents": 1,
                "commission_cents": 1,
                "min_contract_age_months": 24,
                "max_contract_age_months": 12,
            },
            "max_contract_age_months",
        ),
    ],
)
def test_invalid_partners_are_refused(pctx: AppContext, values: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        partners.save_partner(pctx, ADMIN, "p_bad", values)
    assert field in [e["field"] for e in info.value.errors]


def _leads(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "lead_id": f"L{i}",
            "product": "mobile_m",
            "region": "north",
            "contract_age_months": 30,
            "monthly_revenue_cents": 4000,
            **extra,
        }
        for i in range(n)
    ]


def test_a_batch_allocation_uses_and_records_capacity(seeded: AppContext) -> None:
    # north mobile 30 months: alpha (50), gamma (30), delta (20) may take it
    result = partner_allocation.allocate_leads(seeded, ADMIN, _leads(120)).model_dump()
    assert result["solver"] == "highs_milp" and result["gap"] == pytest.approx(0, abs=1e-6)
    assert result["per_partner"] == {"p_alpha": 50, "p_beta": 0, "p_gamma": 30, "p_delta": 20}
    assert len(result["unassigned"]) == 20
    assert all("capacity" in r for r in result["unassigned"].values())
    by_id = {p.id: p.model_dump() for p in partners.list_partners(seeded)[0]}
    assert by_id["p_alpha"]["remaining_capacity"] == 0
    assert by_id["p_beta"]["remaining_capacity"] == 40
    # the run is audited with its inputs
    [event] = _system_events(seeded, "partners_allocated")
    detail = event["detail"]
    assert len(detail["inputs"]["leads"]) == 120 and len(detail["inputs"]["partners"]) == 4
    assert detail["assignments"] == result["assignments"]
    # the same leads again: refused; new leads: nobody left with capacity in the north
    taken = next(iter(result["assignments"]))
    with pytest.raises(Conflict, match="already allocated"):
        partner_allocation.allocate_leads(seeded, ADMIN, [{**_leads(1)[0], "lead_id": taken}])
    again = partner_allocation.allocate_leads(
        seeded, ADMIN, [{**lead, "lead_id": "M1"} for lead in _leads(1)]
    ).model_dump()
    assert again["assignments"] == {} and "capacity" in again["unassigned"]["M1"]


def test_a_dry_run_records_nothing(seeded: AppContext) -> None:
    result = partner_allocation.allocate_leads(seeded, ADMIN, _leads(3), dry_run=True).model_dump()
    assert len(result["assignments"]) == 3
    with read_session(seeded.db) as session:
        count = session.execute(select(func.count()).select_from(LEAD_ALLOCATION)).scalar_one()
    assert count == 0
    assert _system_events(seeded, "partners_allocated")[0]["detail"]["dry_run"] is True


def test_rules_from_the_dmn_limit_the_batch(seeded: AppContext) -> None:
    result = partner_allocation.allocate_leads(
        seeded, ADMIN, _leads(2, eligible_partners=["p_delta"]), method="greedy"
    ).model_dump()
    assert set(result["assignments"].values()) == {"p_delta"} and result["solver"] == "greedy"


def test_the_process_step_takes_the_most_valuable_partner_with_capacity(
    seeded: AppContext,
) -> None:
    # 12 x 39.00 = 468.00: alpha 0.30 -> 125.40, gamma 0.40 -> 167.20, delta 0.20 -> 85.60
    case = cases.start_case(seeded, BACK, "sales_partner", LEAD_DATA)
    assert case.data["allocated_partner"] == "p_gamma"
    assert case.data["allocation"]["solver"] == "greedy"
    partners.save_partner(seeded, ADMIN, "p_gamma", {"capacity_per_period": 1})
    second = cases.start_case(seeded, BACK, "sales_partner", {**LEAD_DATA, "case_number": "RC-2"})
    assert second.data["allocated_partner"] == "p_alpha"  # gamma is full now
    with read_session(seeded.db) as session:
        rows = session.execute(
            select(LEAD_ALLOCATION.c.lead_id, LEAD_ALLOCATION.c.partner_id).order_by(
                LEAD_ALLOCATION.c.allocated_at, LEAD_ALLOCATION.c.partner_id
            )
        ).all()
        history = [e.type for e in audit.history(session, case.id)]
    assert sorted(tuple(r) for r in rows) == sorted(
        [(f"{case.id}#0", "p_gamma"), (f"{second.id}#0", "p_alpha")]
    )
    assert "partners_allocated" in history


def test_no_partner_with_capacity_ends_the_case_with_the_reason(seeded: AppContext) -> None:
    for partner_id in ("p_alpha", "p_gamma", "p_delta"):
        partners.save_partner(seeded, ADMIN, partner_id, {"capacity_per_period": 0})
    case = cases.start_case(seeded, BACK, "sales_partner", LEAD_DATA)
    assert case.outcome == "no_partner"
    assert "no capacity left" in case.data["allocation"]["reason"]


def test_commission_comes_from_the_partner_table(seeded: AppContext) -> None:
    case = partner_case(seeded, 1)
    assert case.outcome == "retained"
    with read_session(seeded.db) as session:
        cents = session.execute(
            select(SETTLEMENT_LINE.c.commission_cents).where(SETTLEMENT_LINE.c.case_id == case.id)
        ).scalar_one()
    assert cents == 3500  # p_gamma's commission


def test_quality_is_learned_from_the_partners_history(seeded: AppContext) -> None:
    partner_case(seeded, 1)  # gamma retains
    partner_case(seeded, 2, report="declined")  # gamma again: lost
    changed = partners.refresh_quality(seeded, ADMIN, prior=0.3, weight=8)
    assert changed == {
        "p_gamma": {"quality": round((1 + 0.3 * 8) / (2 + 8), 4), "worked": 2, "retained": 1}
    }
    assert partners.get_partner(seeded, "p_gamma").model_dump()["quality"] == 0.34
