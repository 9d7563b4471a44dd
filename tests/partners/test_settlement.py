"""Settlement: only validated retentions are paid, each case once; approved statements
are frozen with their hash in the audit trail; corrections are new entries; CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from retention_flow.core.clock import FrozenClock
from retention_flow.core.errors import Conflict, Forbidden, ValidationFailed
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT, SETTLEMENT_ENTRY, SETTLEMENT_LINE
from retention_flow.services.audit import trail as audit
from retention_flow.services.partners import settlement, settlement_export
from retention_flow.services.platform.context import Actor, AppContext
from tests.partners.conftest import partner_case

FINANCE = Actor("fin", frozenset({"back_office"}))
APPROVER = Actor("fin2", frozenset({"back_office"}))  # four eyes: not whoever ran it
PERIOD = "2026-01"


def _line(ctx: AppContext, case_id: str, partner_id: str = "p_gamma") -> str:
    """A settlement line written behind the process's back (a forged or stray claim)."""
    line_id = str(uuid.uuid4())
    with write_session(ctx.db) as session:
        session.execute(
            insert(SETTLEMENT_LINE).values(
                id=line_id,
                case_id=case_id,
                partner_id=partner_id,
                offer_code="DISCOUNT_10",
                commission_cents=9999,
                detail={},
                created_at=ctx.now(),
            )
        )
        session.commit()
    return line_id


def test_only_validated_retentions_are_paid(seeded: AppContext) -> None:
    paid = partner_case(seeded, 1)
    rejected = partner_case(seeded, 2, valid=False)
    declined = partner_case(seeded, 3, report="declined")
    waiting = partner_case(seeded, 4, valid=None)  # reported, not validated yet
    assert [c.outcome for c in (paid, rejected, declined)] == [
        "retained",
        "claim_rejected",
        "lost",
    ]
    stray = {c.id: _line(seeded, c.id) for c in (rejected, declined, waiting)}
    result = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()
    assert result["added"] == {"p_gamma": 1}
    [statement] = result["statements"]
    assert statement["total_cents"] == 3500 and statement["status"] == "draft"
    assert [e["case_id"] for e in statement["entries"]] == [paid.id]
    reasons = {r["case_id"]: r["reason"] for r in result["rejected"]}
    assert set(reasons) == set(stray)
    assert "claim_rejected" in reasons[rejected.id]
    assert "lost" in reasons[declined.id]
    assert "active" in reasons[waiting.id]


def test_a_claim_for_another_partner_is_not_paid(seeded: AppContext) -> None:
    case = partner_case(seeded, 1)
    with write_session(seeded.db) as session:  # the process's line, re-pointed
        session.execute(
            SETTLEMENT_LINE.update()
            .where(SETTLEMENT_LINE.c.case_id == case.id)
            .values(partner_id="p_alpha")
        )
        session.commit()
    result = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()
    assert result["added"] == {}
    assert "allocated partner" in result["rejected"][0]["reason"]


def test_a_case_is_never_paid_twice(seeded: AppContext) -> None:
    case = partner_case(seeded, 1)
    first = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()
    again = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()
    assert first["added"] == {"p_gamma": 1} and again["added"] == {}
    [listed] = first["statements"][0]["entries"]
    with read_session(seeded.db) as session:  # the stored row, every column
        stored = select(SETTLEMENT_ENTRY).where(SETTLEMENT_ENTRY.c.id == listed["id"])
        entry = dict(session.execute(stored).mappings().one())
    with write_session(seeded.db) as session, pytest.raises(IntegrityError):
        session.execute(insert(SETTLEMENT_ENTRY).values({**entry, "id": str(uuid.uuid4())}))
    assert settlement.paid_cents(seeded, case.id) == 3500


def test_approval_freezes_with_a_hash_and_corrections_are_new_entries(
    seeded: AppContext, clock: FrozenClock
) -> None:
    first_case = partner_case(seeded, 1)
    [statement] = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()["statements"]
    with pytest.raises(Forbidden, match="four eyes: fin ran statement"):
        settlement.approve_statement(seeded, FINANCE, statement["id"]).model_dump()
    approved = settlement.approve_statement(seeded, APPROVER, statement["id"]).model_dump()
    assert approved["status"] == "approved" and approved["hash_ok"]
    with read_session(seeded.db) as session:
        event = session.execute(
            select(AUDIT_EVENT.c.detail).where(AUDIT_EVENT.c.type == "settlement_approved")
        ).scalar_one()
        assert audit.verify(session).ok
    assert event["hash"] == approved["hash"] and event["total_cents"] == 3500
    with pytest.raises(Conflict):
        settlement.approve_statement(seeded, APPROVER, statement["id"]).model_dump()

    # a late retention of the same month and a correction go on statement no. 2
    clock.advance(timedelta(days=3))
    partner_case(seeded, 2)
    later = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()["statements"][0]
    assert later["seq"] == 2 and later["id"] != statement["id"]
    [old_entry] = approved["entries"]
    correction = settlement.correct_entry(
        seeded, FINANCE, old_entry["id"], -500, "commission rate for DISCOUNT_10 is 30.00"
    )
    assert correction["statement_id"] == later["id"]
    assert correction["corrects_entry_id"] == old_entry["id"]
    assert settlement.paid_cents(seeded, first_case.id) == 3000
    frozen = settlement.get_statement(seeded, statement["id"]).model_dump()
    assert frozen["entries"] == approved["entries"] and frozen["hash_ok"]
    assert settlement.get_statement(seeded, later["id"]).model_dump()["total_cents"] == 3500 - 500
    with pytest.raises(ValidationFailed):
        settlement.correct_entry(seeded, FINANCE, old_entry["id"], 1, " ")


def test_csv_export_traces_each_line_to_its_case(seeded: AppContext) -> None:
    case = partner_case(seeded, 7)
    [statement] = settlement.run_settlement(seeded, FINANCE, PERIOD).model_dump()["statements"]
    settlement.approve_statement(seeded, APPROVER, statement["id"]).model_dump()
    rows: list[dict[str, Any]] = list(
        csv.DictReader(io.StringIO(settlement_export.export_csv(seeded, statement["id"])))
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["case_id"] == case.id and row["business_key"] == "RC-2026-000007-0"
    assert row["amount_cents"] == "3500" and row["kind"] == "commission"
    assert row["status"] == "approved" and len(row["statement_hash"]) == 64


def test_periods_must_be_months(seeded: AppContext) -> None:
    with pytest.raises(ValidationFailed):
        settlement.run_settlement(seeded, FINANCE, "January").model_dump()
    assert settlement.period_bounds("2026-12")[1].isoformat() == "2027-01-01"
