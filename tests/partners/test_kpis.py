"""KPIs against hand-computed values on a small fixed history, made through the services
with a frozen clock (2026-01-05, 09:00 UTC):

- A outbound: tom claims 09:30, accepts 09:40 (due 13:00) -> retained
- B outbound: amy claims 14:00, declined 14:20 (due 13:00: late) -> lost
- C inbound: ina claims the reason 09:05, done 09:08 (due 09:10); the offer (due 09:23)
  completed from the queue at 09:10 (claimed in passing) -> retained, one contact (the
  offer task arose from her own reason task: one call)
- D outbound: nobody calls -> open, overdue from 13:00; the figures are as of 18:00, so
  D's call is a service-level miss
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retention_flow.core.clock import FrozenClock
from retention_flow.core.errors import ValidationFailed
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.insight import kpis
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import outcome as scan_routing
from retention_flow.services.tasks import work_items as tasks
from tests.partners.conftest import only

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = {
    name: spec["start_data"]
    for name, spec in json.loads((BUNDLE / "scenarios.json").read_text())["bundles"].items()
}
TOM = Actor("tom", frozenset({"agent", "telemarketing"}))
AMY = Actor("amy", frozenset({"agent", "telemarketing"}))
INA = Actor("ina", frozenset({"agent", "inbound"}))
DAY = datetime(2026, 1, 5, tzinfo=UTC)


def _at(clock: FrozenClock, hh: int, mm: int) -> None:
    clock.set(DAY.replace(hour=hh, minute=mm))


@pytest.fixture
def history(pctx: AppContext, clock: FrozenClock) -> AppContext:
    _at(clock, 9, 0)
    out = START["outbound_telemarketing"]
    a, b, _d = (
        cases.start_case(pctx, TOM, "outbound_telemarketing", {**out, "case_number": f"RC-{n}"})
        for n in ("A", "B", "D")
    )
    c = cases.start_case(pctx, INA, "inbound_callcentre", START["inbound_callcentre"])
    _at(clock, 9, 5)
    reason = only(c, "capture_reason").id
    tasks.claim(pctx, INA, reason)
    _at(clock, 9, 8)
    c = tasks.complete(pctx, INA, reason, {"cancellation_reason": "price"}).case
    _at(clock, 9, 10)
    done = tasks.complete(pctx, INA, only(c, "present_offer").id, {"offer_response": "accepted"})
    assert done.case.outcome == "retained"
    _at(clock, 9, 30)
    call_a = only(a, "call_customer").id
    tasks.claim(pctx, TOM, call_a)
    _at(clock, 9, 40)
    accepted = {"reached": True, "call_outcome": "accepted"}
    assert tasks.complete(pctx, TOM, call_a, accepted).case.outcome == "retained"
    _at(clock, 14, 0)
    call_b = only(b, "call_customer").id
    tasks.claim(pctx, AMY, call_b)
    _at(clock, 14, 20)
    declined = {"reached": True, "call_outcome": "declined", "reason": "price"}
    assert tasks.complete(pctx, AMY, call_b, declined).case.outcome == "lost"
    _at(clock, 18, 0)
    return pctx


#: the figures this file has checked since before the written definitions
OLD_KEYS = (
    "volume",
    "ended",
    "retained",
    "retention_rate",
    "tasks_completed",
    "avg_handling_seconds",
    "avg_waiting_seconds",
    "service_level",
    "fcr_cases",
    "first_contact_resolution",
    "backlog",
    "backlog_overdue",
)


def _rows(ctx: AppContext, *group_by: str, days: int = 1, **kw: Any) -> dict[tuple, dict]:
    rows = kpis.compute(ctx, start=DAY, end=DAY + timedelta(days=days), group_by=group_by, **kw)
    return {tuple(r.group.values()): r.model_dump() for r in rows}


def test_kpis_by_channel(history: AppContext) -> None:
    rows = _rows(history, "channel")
    assert set(rows) == {("outbound",), ("inbound",)}
    outbound, inbound = rows[("outbound",)], rows[("inbound",)]
    assert {k: v for k, v in outbound.items() if k in OLD_KEYS} == {
        "volume": 3,
        "ended": 2,
        "retained": 1,
        "retention_rate": 0.5,
        "tasks_completed": 2,
        "avg_handling_seconds": (600 + 1200) / 2,
        "avg_waiting_seconds": (1800 + 5 * 3600) / 2,
        "service_level": round(1 / 3, 6),  # A on time, B late, D open and overdue at 18:00
        "fcr_cases": 2,
        "first_contact_resolution": 1.0,
        "backlog": 1,
        "backlog_overdue": 1,
    }
    assert inbound["volume"] == 1 and inbound["retention_rate"] == 1.0
    assert inbound["tasks_completed"] == 2
    assert inbound["avg_handling_seconds"] == (180 + 0) / 2
    assert inbound["avg_waiting_seconds"] == (300 + 120) / 2
    assert inbound["service_level"] == 1.0
    assert inbound["first_contact_resolution"] == 1.0 and inbound["backlog"] == 0


def test_cases_without_a_channel_are_not_retention_cases(history: AppContext) -> None:
    """A back-office case outside the channels (a scan exception) leaves the case metrics
    alone; its task is work, so it counts in the task metrics and the backlog."""
    before = _rows(history)[()]
    _at(history.clock, 11, 0)  # type: ignore[arg-type]
    scan_routing.ensure_exception_process(history)
    exception = cases.start_case(
        history,
        Actor("scanner", frozenset({"back_office"})),
        "scan_exception",
        {"scan_id": "S-1", "page_no": 1, "reasons": ["unknown case number"]},
    )
    assert exception.channel is None
    after = _rows(history)[()]
    assert after["volume"] == before["volume"] and after["ended"] == before["ended"]
    assert after["retention_rate"] == before["retention_rate"]
    assert after["backlog"] == before["backlog"] + 1


def test_kpis_by_agent_and_the_scorecard(history: AppContext) -> None:
    rows = _rows(history, "agent")
    tom, amy, ina = rows[("tom",)], rows[("amy",)], rows[("ina",)]
    assert (tom["avg_handling_seconds"], tom["service_level"], tom["retention_rate"]) == (
        600,
        1.0,
        1.0,
    )
    assert (amy["avg_handling_seconds"], amy["service_level"], amy["retention_rate"]) == (
        1200,
        0.0,
        0.0,
    )
    assert ina["first_contact_resolution"] == 1.0 and ina["tasks_completed"] == 2
    assert rows[("(none)",)]["backlog"] == 1  # D's call: nobody holds it
    card = {
        r.agent: r.model_dump()
        for r in kpis.scorecard(history, start=DAY, end=DAY + timedelta(days=1))
    }
    # weights 0.4 retention, 0.3 service level, 0.2 FCR, 0.1 handling (target 60 s)
    assert card["tom"]["score"] == pytest.approx(0.4 + 0.3 + 0.2 + 0.1 * 60 / 600)
    assert card["amy"]["score"] == pytest.approx(0.2 + 0.1 * 60 / 1200)
    assert card["ina"]["score"] == pytest.approx(0.4 + 0.3 + 0.2 + 0.1 * 60 / 90)
    handling = next(c for c in card["tom"]["components"] if c["kpi"] == "handling")
    assert handling == {
        "kpi": "handling",
        "value": 600,
        "normalised": 0.1,
        "weight": 0.1,
        "effective_weight": 0.1,
        "contribution": 0.01,
    }


def test_backlog_is_counted_at_the_end_of_each_period(history: AppContext) -> None:
    """Each day's backlog is judged at its end, but never after the as-of moment (now,
    18:00 on the 5th): the 6th has not happened yet, so it has no row at all."""
    rows = _rows(history, "period", days=2, granularity="day")
    assert rows[("2026-01-05",)]["backlog"] == 1 and rows[("2026-01-05",)]["volume"] == 4
    assert ("2026-01-06",) not in rows
    history.clock.set(DAY + timedelta(days=1, hours=12))  # type: ignore[attr-defined]
    rows = _rows(history, "period", days=2, granularity="day")
    assert rows[("2026-01-06",)]["backlog"] == 1 and rows[("2026-01-06",)]["volume"] == 0
    month = _rows(history, "period", days=2, granularity="month")
    assert month[("2026-01",)]["backlog"] == 1


def test_csv_and_bad_groupings(history: AppContext) -> None:
    rows = kpis.compute(history, start=DAY, end=DAY + timedelta(days=1), group_by=["channel"])
    table = list(csv.DictReader(io.StringIO(kpis.to_csv(rows, ["channel"]))))
    assert [r["channel"] for r in table] == ["inbound", "outbound"]
    assert table[1]["retention_rate"] == "0.5"
    with pytest.raises(ValidationFailed):
        kpis.compute(history, start=DAY, end=DAY + timedelta(days=1), group_by=["colour"])
    with pytest.raises(ValidationFailed):
        kpis.compute(history, start=DAY, end=DAY)


def test_kpis_by_team(history: AppContext) -> None:
    from retention_flow.services.people import users

    users.add_user(history, "tom", "password-123", ["agent", "telemarketing"], team="north")
    users.add_user(history, "amy", "password-123", ["agent", "telemarketing"], team="north")
    users.add_user(history, "ina", "password-123", ["agent", "inbound"])
    users.set_team(history, "ina", "south")
    rows = _rows(history, "team")
    north, south = rows[("north",)], rows[("south",)]
    assert north["tasks_completed"] == 2 and north["retention_rate"] == 0.5
    assert north["avg_handling_seconds"] == (600 + 1200) / 2
    assert south["tasks_completed"] == 2 and south["retention_rate"] == 1.0
    assert rows[("(none)",)]["backlog"] == 1


def test_dashboard_totals_and_periods_agree(history: AppContext) -> None:
    board = kpis.dashboard(
        history, start=DAY, end=DAY + timedelta(days=2), by="channel", granularity="day"
    ).model_dump()
    totals = {r["group"]["channel"]: r["volume"] for r in board["totals"]}
    per_day: dict[str, int] = {}
    for row in board["periods"]:
        per_day[row["group"]["channel"]] = per_day.get(row["group"]["channel"], 0) + row["volume"]
    assert totals == per_day and sum(totals.values()) == 4
    assert board["buckets"] == ["2026-01-05", "2026-01-06"]
    assert {r["group"]["period"] for r in board["periods"]} <= set(board["buckets"])
    with pytest.raises(ValidationFailed):
        kpis.dashboard(history, start=DAY, end=DAY + timedelta(days=1), by="period")


def test_kpis_by_version(history: AppContext) -> None:
    rows = kpis.compute(history, start=DAY, end=DAY + timedelta(days=1), group_by=["version"])
    volume = {r.group["version"]: r.volume for r in rows}
    assert volume == {"inbound_callcentre v1": 1, "outbound_telemarketing v1": 3}
