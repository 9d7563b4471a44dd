"""What ``bench/faults.py`` counts after the load: lost and doubled effects, straight from
the database tables (not from the answers the agents saw)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from retention_flow.db.session import create_db_engine
from retention_flow.db.tables import (
    AUDIT_EVENT,
    CASE,
    CONTRACT_CHANGE,
    LETTER,
    SETTLEMENT_LINE,
    TIMER,
    WORK_ITEM,
)

DOUBLES = {
    "cases per key": (CASE, (CASE.c.business_key,)),
    "letters per case and kind": (LETTER, (LETTER.c.case_id, LETTER.c.kind)),
    "bookings per case and kind": (
        CONTRACT_CHANGE,
        (CONTRACT_CHANGE.c.case_id, CONTRACT_CHANGE.c.kind),
    ),
    "settlement lines per case": (SETTLEMENT_LINE, (SETTLEMENT_LINE.c.case_id,)),
}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def wait_for_timers(conn: Any, timeout: float = 90.0) -> int:
    """Wait until no due timer is pending (the workers fire them); returns those left."""
    deadline = time.monotonic() + timeout
    while True:
        now = datetime.now(UTC)
        query = select(func.count()).select_from(TIMER)
        left = int(
            conn.execute(
                query.where(and_(TIMER.c.state == "pending", TIMER.c.due_at < now))
            ).scalar_one()
        )
        conn.commit()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def _doubles(conn: Any, table: Any, columns: tuple[Any, ...], where: Any = None) -> int:
    grouped = select(*columns, func.count().label("n")).select_from(table)
    if where is not None:
        grouped = grouped.where(where)
    doubles = grouped.group_by(*columns).having(func.count() > 1).subquery()
    return int(conn.execute(select(func.count()).select_from(doubles)).scalar_one())


def check_database(
    url: str, acked_starts: dict[str, str], acked_completes: list[str]
) -> dict[str, Any]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            left = wait_for_timers(conn)
            case_ids = set(conn.execute(select(CASE.c.id)).scalars())
            lost_starts = sum(1 for case_id in acked_starts.values() if case_id not in case_ids)
            states = dict(conn.execute(select(WORK_ITEM.c.id, WORK_ITEM.c.state)).all())
            lost_completes = sum(1 for task in acked_completes if states.get(task) != "completed")
            doubled = {name: _doubles(conn, t, cols) for name, (t, cols) in DOUBLES.items()}
            fired = AUDIT_EVENT.c.type == "timer_fired"
            doubled["timer firings per case and timer"] = _doubles(
                conn, AUDIT_EVENT, (AUDIT_EVENT.c.case_id, AUDIT_EVENT.c.element_id), fired
            )
            completed = AUDIT_EVENT.c.type == "task_completed"
            doubled["completions per task"] = _doubles(
                conn, AUDIT_EVENT, (AUDIT_EVENT.c.task_id,), completed
            )
            rows = {
                "cases": len(case_ids),
                "timer firings": conn.execute(select(func.count()).where(fired)).scalar_one(),
                "letters": conn.execute(select(func.count()).select_from(LETTER)).scalar_one(),
                "bookings": conn.execute(
                    select(func.count()).select_from(CONTRACT_CHANGE)
                ).scalar_one(),
                "settlement lines": conn.execute(
                    select(func.count()).select_from(SETTLEMENT_LINE)
                ).scalar_one(),
                "due timers left unfired": left,
            }
    finally:
        engine.dispose()
    lost_detail = {"case starts": lost_starts, "completions": lost_completes}
    return {
        "lost": lost_starts + lost_completes + left,
        "lost_detail": lost_detail,
        "doubled": sum(doubled.values()),
        "doubled_detail": doubled,
        "rows": rows,
    }


def timer_lateness(url: str, timer_seconds: int) -> dict[str, float]:
    """Fired minus due of each timer case's timer (due = case start + its duration)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(CASE.c.created_at, AUDIT_EVENT.c.at)
                .join(AUDIT_EVENT, AUDIT_EVENT.c.case_id == CASE.c.id)
                .where(and_(CASE.c.process_id == "timers", AUDIT_EVENT.c.type == "timer_fired"))
            ).all()
    finally:
        engine.dispose()
    late = sorted(
        (_aware(at) - _aware(created) - timedelta(seconds=timer_seconds)).total_seconds()
        for created, at in rows
    )
    if not late:
        return {}
    return {
        "n": float(len(late)),
        "p50_s": round(late[len(late) // 2], 2),
        "p99_s": round(late[min(len(late) - 1, int(len(late) * 0.99))], 2),
        "max_s": round(late[-1], 2),
    }
