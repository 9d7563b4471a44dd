"""A hand-built KPI period: cases, work items and customer keys written as rows with
chosen times, so every figure can be worked out by hand (tests/integration/
test_kpi_known_answers.py does). The rows are what the engine's steps write (work items
with their work-time columns, case keys); no workflow runs.

``T0`` is Monday 2026-03-02 00:00 UTC; the period is the week ``[T0, T0 + 7 d)`` and the
clock stands at ``T0 + 12 d``, so the figures are as of ``T0 + 7 d``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from retention_flow.db.session import write_session
from retention_flow.db.tables import CASE, CASE_KEY, DEPLOYMENT, WORK_ITEM
from retention_flow.services.platform.context import AppContext

T0 = datetime(2026, 3, 2, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NOW = T0 + 12 * DAY
RETENTION, INTAKE = "dep-retention", "dep-intake"
CHANNEL_PROCESS = {
    "outbound": "outbound_telemarketing",
    "inbound": "inbound_callcentre",
    "mail": "mail_response",
    None: "scan_exception",
}


@dataclass
class Task:
    role: str
    created: datetime
    due: datetime
    ended: datetime | None = None
    by: str | None = None
    first_worked: datetime | None = None
    handling: float | None = None


@dataclass
class Case:
    name: str
    channel: str | None
    created: datetime
    ended: datetime | None = None
    outcome: str | None = None
    customer: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    deployment: str = RETENTION


def _call(created: datetime, wait: float, handle: float, took: timedelta, **kw: Any) -> Task:
    """A telemarketing call: work starts ``wait`` s after it arrives, done ``took`` after."""
    return Task(
        "telemarketing",
        created,
        created + 4 * HOUR,
        ended=created + took,
        by="tom",
        first_worked=created + timedelta(seconds=wait),
        handling=handle,
        **kw,
    )


def period_cases() -> list[Case]:
    out: list[Case] = []
    # A: ten outbound calls by tom on day 1, 20 min wait, 300 s handling; A8, A9 late
    for i in range(10):
        c = T0 + DAY + 9 * HOUR + i * 10 * MIN
        late = i >= 8
        call = _call(c, 17400, 300, 5 * HOUR) if late else _call(c, 1200, 300, 25 * MIN)  # due 4 h
        outcome = "retained" if i < 6 else "no_response" if i == 9 else "lost"
        data: dict[str, Any] = {"monthly_revenue_cents": 3000}
        if outcome == "retained":
            data["offer_code"] = "DISCOUNT_10"
        out.append(Case(f"A{i}", "outbound", c, call.ended, outcome, f"A{i}", data, [call]))
    # B: six inbound calls by ina on day 2, reason then offer in one call (one contact)
    for j in range(6):
        c = T0 + 2 * DAY + 10 * HOUR + j * 30 * MIN
        reason = Task(
            "inbound", c, c + 10 * MIN, c + 3 * MIN, "ina", c + timedelta(seconds=30), 120
        )
        offer = Task("inbound", c + 3 * MIN, c + 15 * MIN, c + 5 * MIN, "ina", c + 3 * MIN, 60)
        outcome = "retained" if j < 4 else "lost"
        data = {"monthly_revenue_cents": 4000}
        if outcome == "retained":
            data["offer_code"] = "LOYALTY_BONUS"
        if j == 0:
            data["offer_cost_cents"] = 700  # the case's own figure beats the settings'
        csat: Any = {0: 5, 1: 4, 2: 3, 3: "great"}.get(j)
        if csat is not None:
            data["csat"] = csat
        out.append(
            Case(f"B{j}", "inbound", c, c + 5 * MIN, outcome, f"K{j}", data, [reason, offer])
        )
    # C: K0 calls again 2 days after B0 ended (open, overdue), K1 6 d 23 h after B1
    # (a repeat, outside the period), K2 7 d 1 h after B2 (not a repeat)
    b0, b1, b2 = out[10].ended, out[11].ended, out[12].ended
    assert b0 and b1 and b2
    c0 = b0 + 2 * DAY
    out.append(Case("C0", "inbound", c0, customer="K0", tasks=[Task("inbound", c0, c0 + 10 * MIN)]))
    out.append(Case("C1", "inbound", b1 + 6 * DAY + 23 * HOUR, customer="K1"))
    out.append(Case("C2", "inbound", b2 + 7 * DAY + HOUR, customer="K2"))
    # D: four mail responses read and settled without a person
    for k in range(4):
        c = T0 + 3 * DAY + 8 * HOUR + k * HOUR
        outcome = "retained" if k < 2 else "lost"
        data = {"monthly_revenue_cents": 2000}
        out.append(Case(f"D{k}", "mail", c, c + 2 * MIN, outcome, f"M{k}", data))
    # E: two inbound cases where bob presents the offer after ina took the reason
    for e in range(2):
        c = T0 + 4 * DAY + 14 * HOUR + e * HOUR
        reason = Task("inbound", c, c + 10 * MIN, c + 2 * MIN, "ina", c + MIN, 100)
        offer = Task("inbound", c + 2 * MIN, c + 15 * MIN, c + 4 * MIN, "bob", c + 3 * MIN, 90)
        out.append(Case(f"E{e}", "inbound", c, c + 4 * MIN, "lost", f"E{e}", {}, [reason, offer]))
    # F: started the day before the period, called late in it, retained with an offer
    # whose cost nobody knows
    c = T0 - DAY + 10 * HOUR
    call = _call(c, 82200, 600, 23 * HOUR)
    data = {"monthly_revenue_cents": 5000, "offer_code": "NEW_DEVICE"}
    out.append(Case("F0", "outbound", c, call.ended, "retained", "F0", data, [call]))
    # G: a scan exception (not a retention case): its back-office task is overdue work
    c = T0 + 5 * DAY + 9 * HOUR
    out.append(Case("G0", None, c, tasks=[Task("back_office", c, c + DAY)], deployment=INTAKE))
    # H: outbound cases opened on the last day; H's call is due exactly at the as-of
    # moment (not overdue), H2's was overdue at it and done the next day
    c = T0 + 6 * DAY + 20 * HOUR
    out.append(Case("H0", "outbound", c, tasks=[Task("telemarketing", c, c + 4 * HOUR)]))
    c = T0 + 6 * DAY + 10 * HOUR
    overdue = Task("telemarketing", c, c + 4 * HOUR, T0 + 8 * DAY, "tom", T0 + 8 * DAY, 30)
    out.append(Case("H2", "outbound", c, T0 + 8 * DAY, "retained", "H2", {}, [overdue]))
    # I: after the period, due between now (T0 + 12 d) and T0 + 14 d
    c = T0 + 11 * DAY
    out.append(Case("I0", "outbound", c, tasks=[Task("telemarketing", c, T0 + 13 * DAY)]))
    return out


def load(ctx: AppContext, cases: list[Case]) -> None:
    """Write the deployments, cases, work items and customer keys."""
    deployments: list[dict[str, Any]] = [
        {"id": RETENTION, "manifest": {}},
        {"id": INTAKE, "manifest": {"retention_cases": False}},
    ]
    case_rows, item_rows, key_rows = [], [], []
    for case in cases:
        case_id = str(uuid.uuid4())
        status = "completed" if case.ended else "active"
        case_rows.append(
            {
                "id": case_id,
                "business_key": case.name,
                "process_id": CHANNEL_PROCESS[case.channel],
                "process_version": 1,
                "deployment_id": case.deployment,
                "channel": case.channel,
                "status": status,
                "outcome": case.outcome,
                "data": {**case.data, **({"customer_id": case.customer} if case.customer else {})},
                "state": "{}",
                "serializer_version": "test",
                "lock_version": 1,
                "started_by": "fixture",
                "starter_role": "system",
                "audit_seq": 0,
                "audit_hash": "0" * 64,
                "created_at": case.created,
                "updated_at": case.ended or case.created,
                "ended_at": case.ended,
            }
        )
        if case.customer:
            key_rows.append({"case_id": case_id, "key": "customer_id", "value": case.customer})
        for n, task in enumerate(case.tasks):
            item_rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "case_id": case_id,
                    "business_key": case.name,
                    "process_id": CHANNEL_PROCESS[case.channel],
                    "element_id": f"task_{n}",
                    "name": f"Task {n}",
                    "role": task.role,
                    "state": "completed" if task.ended else "ready",
                    "claimed_by": None,
                    "claimed_at": None,
                    "due_at": task.due,
                    "priority": 50,
                    "form": None,
                    "partner": None,
                    "created_at": task.created,
                    "ended_at": task.ended,
                    "ended_by": task.by,
                    "work_started_at": None,
                    "work_started_by": None,
                    "first_worked_at": task.first_worked,
                    "handling_seconds": task.handling,
                }
            )
    with write_session(ctx.db) as session:
        conn = session.connection()
        conn.execute(
            insert(DEPLOYMENT),
            [
                {
                    **d,
                    "content_hash": d["id"].ljust(64, "0"),
                    "files": {},
                    "deployed_by": "fixture",
                    "deployed_at": T0 - 30 * DAY,
                }
                for d in deployments
            ],
        )
        conn.execute(insert(CASE), case_rows)
        conn.execute(insert(WORK_ITEM), item_rows)
        conn.execute(insert(CASE_KEY), key_rows)
        session.commit()
