"""Every KPI against a value worked out by hand on a fixture week (kpi_fixture.py):
35 cases with chosen times, outcomes, repeat calls, automation and overdue work. Runs on
SQLite and, with RETENTION_FLOW_TEST_DATABASE_URL, on PostgreSQL.

The week, in short (T0 = Mon 2026-03-02, figures as of T0 + 7 d, offer costs 300 for
DISCOUNT_10 and 500 for LOYALTY_BONUS):

- A0-A9 outbound, tom: waits 1200 s (A8, A9: 17400 s, done after the 4 h due time),
  handles 300 s; A0-A5 retained (DISCOUNT_10, 3000/month), A6-A8 lost, A9 no_response.
- B0-B5 inbound, ina: reason (wait 30 s, 120 s) then offer (wait 0 s, 60 s) in one call;
  B0-B3 retained (LOYALTY_BONUS, 4000/month; B0 names its own cost 700); CSAT 5, 4, 3
  and "great" (not a number). Customers K0 and K1 call again within 7 days, K2 after 8.
- C0 K0's new case, open and overdue; C1, C2 after the week.
- D0-D3 mail, no person (2000/month): D0, D1 retained.
- E0, E1 inbound: ina takes the reason (60 s wait, 100 s), bob the offer (60 s, 90 s): two
  contacts; lost.
- F0 outbound opened the day before, done late (wait 82200 s, 600 s), retained with
  NEW_DEVICE (cost unknown), 5000/month.
- G0 a scan exception: not a retention case; its task is overdue at the as-of moment.
- H0 due exactly at the as-of moment (not overdue); H2 overdue then, done the next day.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.services.insight import kpis
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import PASSWORD, login
from tests.integration.kpi_fixture import DAY, NOW, T0, load, period_cases

END = T0 + 7 * DAY


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        script_budget_seconds=0.5,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        kpi_offer_cost_cents={"DISCOUNT_10": 300, "LOYALTY_BONUS": 500},
    )


@pytest.fixture
def week(ctx: AppContext, clock: FrozenClock) -> AppContext:
    clock.set(NOW)
    load(ctx, period_cases())
    return ctx


def _by(ctx: AppContext, *group_by: str, **kw: Any) -> dict[tuple[str, ...], dict[str, Any]]:
    end = kw.pop("end", END)
    rows = kpis.compute(ctx, start=T0, end=end, group_by=group_by, **kw)
    return {tuple(r.group.values()): r.model_dump() for r in rows}


def r6(value: float) -> float:
    return round(value, 6)


def test_the_week_as_a_whole(week: AppContext) -> None:
    row = _by(week)[()]
    tasks = 10 + 12 + 4 + 1  # A, B (two each), E (two each), F
    ended = 10 + 6 + 4 + 2 + 1  # A, B, D, E, F
    assert row == {
        "group": {},
        "volume": 10 + 6 + 1 + 4 + 2 + 2,  # A, B, C0, D, E, H0 and H2
        "ended": ended,
        "retained": 6 + 4 + 2 + 1,
        "retention_rate": r6(13 / 23),
        "tasks_completed": tasks,
        # A 10 x 300, B 6 x (120 + 60), E 2 x (100 + 90), F 600
        "avg_handling_seconds": round((3000 + 1080 + 380 + 600) / tasks, 3),
        # A 8 x 1200 + 2 x 17400, B 6 x 30, E 2 x 120, F 82200
        "avg_waiting_seconds": round((9600 + 34800 + 180 + 240 + 82200) / tasks, 3),
        "answered_in_time": r6(6 / tasks),  # the B offers started at once (<= 20 s)
        # on time: A0-A7, all of B and E; misses: A8, A9, F and C0, G0, H2 open overdue
        "service_level": r6(24 / (tasks + 3)),
        "fcr_cases": 10 + 6 + 2 + 1,  # every case with a contact (D had none)
        "first_contact_resolution": r6((10 + 4 + 1) / 19),  # B0, B1 repeated; E two contacts
        "backlog": 4,  # C0, G0, H0, H2
        "backlog_overdue": 3,  # H0 is due exactly at the as-of moment
        "avg_manual_seconds": round((3000 + 1080 + 380 + 600) / ended, 3),
        "manual_under_target_share": r6(4 / ended),  # only D, at 0 s
        # A 8 x 25 min + 2 x 5 h, B 6 x 5 min, D 4 x 2 min, E 2 x 4 min, F 23 h
        "avg_resolution_seconds": round((12000 + 36000 + 1800 + 480 + 480 + 82800) / ended, 3),
        "automated": 4,
        "automation_share": r6(4 / ended),
        "saved_revenue_cents": 6 * 3000 + 4 * 4000 + 2 * 2000 + 5000,
        "offer_cost_cents": 6 * 300 + 700 + 3 * 500,  # D had no offer, F's is unknown
        "offer_cost_unknown": 1,
        "no_response_rate": r6(1 / ended),
        "csat_answered": 3,
        "csat": 4.0,
    }


def test_by_channel(week: AppContext) -> None:
    rows = _by(week, "channel")
    assert set(rows) == {("outbound",), ("inbound",), ("mail",), ("(none)",)}
    out, inb, mail, none = (rows[(k,)] for k in ("outbound", "inbound", "mail", "(none)"))
    assert (out["volume"], out["ended"], out["retained"], out["tasks_completed"]) == (12, 11, 7, 11)
    assert (out["backlog"], out["backlog_overdue"]) == (2, 1)
    assert out["service_level"] == r6(8 / 12)
    assert out["avg_manual_seconds"] == round(3600 / 11, 3)
    assert (inb["volume"], inb["ended"], inb["tasks_completed"]) == (9, 8, 16)
    assert inb["service_level"] == r6(16 / 17)  # C0 open and overdue
    assert inb["first_contact_resolution"] == 0.5 and inb["csat"] == 4.0
    assert (mail["automation_share"], mail["avg_manual_seconds"]) == (1.0, 0.0)
    assert mail["manual_under_target_share"] == 1.0 and mail["service_level"] is None
    assert (none["volume"], none["backlog"], none["backlog_overdue"]) == (0, 1, 1)


def test_by_agent(week: AppContext) -> None:
    rows = _by(week, "agent")
    tom, ina, bob = rows[("tom",)], rows[("ina",)], rows[("bob",)]
    assert (tom["tasks_completed"], tom["service_level"]) == (11, r6(8 / 11))
    assert tom["avg_handling_seconds"] == round(3600 / 11, 3)
    assert (tom["ended"], tom["retained"], tom["first_contact_resolution"]) == (11, 7, 1.0)
    assert (ina["tasks_completed"], ina["service_level"], ina["ended"]) == (14, 1.0, 6)
    assert ina["first_contact_resolution"] == r6(4 / 6)
    assert (bob["tasks_completed"], bob["ended"], bob["first_contact_resolution"]) == (2, 2, 0.0)
    assert rows[("(none)",)]["backlog"] == 4  # nobody holds the open work


def test_by_offer(week: AppContext) -> None:
    rows = _by(week, "offer")
    discount, loyalty = rows[("DISCOUNT_10",)], rows[("LOYALTY_BONUS",)]
    assert (discount["ended"], discount["saved_revenue_cents"]) == (6, 18000)
    assert discount["offer_cost_cents"] == 1800
    assert (loyalty["ended"], loyalty["offer_cost_cents"]) == (4, 700 + 1500)
    assert rows[("NEW_DEVICE",)]["offer_cost_unknown"] == 1


def test_per_day_open_work_is_judged_at_each_days_end(week: AppContext) -> None:
    rows = _by(week, "period", granularity="day")
    volume = {k[0]: r["volume"] for k, r in rows.items() if r["volume"]}
    assert volume == {
        "2026-03-03": 10,
        "2026-03-04": 6,
        "2026-03-05": 4,
        "2026-03-06": 3,
        "2026-03-08": 2,
    }
    assert rows[("2026-03-02",)]["ended"] == 1  # F
    backlog = {k[0]: (r["backlog"], r["backlog_overdue"]) for k, r in rows.items()}
    assert backlog["2026-03-06"] == (1, 1)  # C0
    assert backlog["2026-03-07"] == (2, 1)  # C0, and G0 not due until the 8th
    assert backlog["2026-03-08"] == (4, 3)


def test_open_work_is_judged_now_when_the_period_is_not_over(week: AppContext) -> None:
    """Two weeks from T0, now T0 + 12 d: I0 falls due on day 13, so it is not overdue
    yet (judging it at the period's end would count it)."""
    row = _by(week, end=T0 + 14 * DAY)[()]
    assert (row["backlog"], row["backlog_overdue"]) == (4, 3)  # C0, G0, H0 overdue; I0 not
    assert kpis.as_of(week, T0 + 14 * DAY) == NOW
    assert row["tasks_completed"] == 28  # H2 was done on day 8


def test_the_api_answers_with_its_as_of_moment(week: AppContext) -> None:
    users.add_user(week, "lead", PASSWORD, ["team_lead"])
    with TestClient(create_app(week)) as client:
        _check_api(client)


def _check_api(client: TestClient) -> None:
    token = login(client, "lead").json()["access_token"]
    lead = {"Authorization": f"Bearer {token}"}
    params = f"start={T0.date()}T00:00:00Z&end={END.date()}T00:00:00Z"
    answer = client.get(f"/api/kpis?{params}&group_by=channel", headers=lead).json()
    assert answer["as_of"].startswith("2026-03-09T00:00:00")
    outbound = next(r for r in answer["data"] if r["group"]["channel"] == "outbound")
    assert outbound["service_level"] == r6(8 / 12)
    later = client.get(f"/api/kpis?start={T0.date()}T00:00:00Z", headers=lead).json()
    assert later["as_of"].startswith(NOW.isoformat()[:19])


def test_fcr_window_is_a_setting(week: AppContext) -> None:
    week.settings.kpi_fcr_days = 8  # now K2's call 7 d 1 h later is a repeat too
    assert _by(week)[()]["first_contact_resolution"] == r6(14 / 19)
    week.settings.kpi_fcr_days = 2  # K0 called exactly 2 days later: not within 2 days
    assert _by(week)[()]["first_contact_resolution"] == r6(17 / 19)
