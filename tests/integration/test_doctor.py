"""``retention-flow doctor`` (a subprocess, as an operator runs it) on rows written behind
the application's back: ``--dry-run`` lists them and changes nothing; a run repairs each
row with an audit event in the same transaction, audit rows are noted and never
rewritten, and the repaired cases step again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, CASE, PARTNER
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.api.test_hostile_data import _corrupt, _seed
from tests.factories import actor
from tests.integration.test_cli import _cli


def _where(findings: list[dict[str, Any]], table: str, column: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["table"] == table and f["column"] == column]


def test_doctor_lists_then_repairs_with_audit_events(ctx: AppContext, db_url: str) -> None:
    ids = _seed(ctx, None)  # type: ignore[arg-type]
    _corrupt(ctx, ids)
    with read_session(ctx.db) as session:
        before = session.execute(
            select(cast(CASE.c.data, Text)).where(CASE.c.id == ids["case_a"])
        ).scalar_one()

    listed = _cli(db_url, "doctor", "--dry-run")
    assert listed["dry_run"] is True and listed["repaired"] == 0
    found = listed["findings"]
    data_a = [f for f in _where(found, "case", "data") if f["key"]["id"] == ids["case_a"]]
    assert data_a and {"field", "message"} <= data_a[0]["problems"][0].keys()
    assert any(p["field"] == "customer_id" for p in data_a[0]["problems"]), data_a
    shapes = {f["key"]["id"] for f in _where(found, "case", "data")}
    assert {ids["case_b"], ids["case_c"]} <= shapes  # an array, a null
    assert {f["key"]["id"] for f in _where(found, "partner_org", "products")} == {"acme", "globex"}
    assert _where(found, "partner_org", "quality") and _where(found, "app_user", "roles")
    assert _where(found, "scan_page", "fields") and _where(found, "audit_event", "detail")
    with read_session(ctx.db) as session:  # a dry run changes nothing
        again = session.execute(
            select(cast(CASE.c.data, Text)).where(CASE.c.id == ids["case_a"])
        ).scalar_one()
    assert again == before

    repaired = _cli(db_url, "doctor")
    not_audit = [f for f in repaired["findings"] if f["table"] != "audit_event"]
    assert repaired["repaired"] == len(not_audit) > 0
    after = _cli(db_url, "doctor", "--dry-run")
    assert {f["table"] for f in after["findings"]} == {"audit_event"}  # evidence, kept

    ctx.live.clear()
    with read_session(ctx.db) as session:
        data_a = session.execute(select(CASE.c.data).where(CASE.c.id == ids["case_a"])).scalar_one()
        partner = session.execute(select(PARTNER).where(PARTNER.c.id == "acme")).mappings().one()
        events = list(
            session.execute(
                select(AUDIT_EVENT).where(
                    AUDIT_EVENT.c.type.in_(("data_repaired", "row_repaired", "audit_value_found"))
                )
            ).mappings()
        )
        chain_c = audit.verify(session, stream=ids["case_c"]).as_dict()
        system = audit.verify(session, stream=audit.SYSTEM_STREAM).as_dict()
    assert data_a["customer_id"] is None and data_a["nested"] == {"x": [None]}
    assert partner["products"] == [] and 0 <= partner["quality"] <= 1
    repaired_c = [
        e for e in events if e["type"] == "data_repaired" and e["stream"] == ids["case_c"]
    ]
    assert repaired_c and repaired_c[0]["actor"] == "doctor"
    assert repaired_c[0]["detail"]["column"] == "data"
    assert any(
        e["type"] == "row_repaired" and e["detail"]["table"] == "partner_org" for e in events
    )
    noted = [e for e in events if e["type"] == "audit_value_found"]
    assert noted and all(e["detail"]["rewritten"] is False for e in noted)
    assert chain_c["ok"] and system["ok"], (chain_c, system)  # the repairs are chained

    # a second run notes nothing twice
    _cli(db_url, "doctor")
    with read_session(ctx.db) as session:
        count = session.execute(
            select(AUDIT_EVENT.c.id).where(AUDIT_EVENT.c.type == "audit_value_found")
        ).all()
    assert len(count) == len(noted)

    # the repaired case steps again (its data is an object now)
    done = tasks.complete(
        ctx, actor("agent", "agent", "telemarketing"), ids["task_a"], {"call_result": "reached"}
    )
    assert done.case.data["call_result"] == "reached"
    assert cases.get_case(ctx, ids["case_a"]).data["customer_id"] is None
