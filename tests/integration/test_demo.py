"""`demo` seeds users, customers and cases in every channel, and is idempotent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, CUSTOMER, USER, WORK_ITEM
from retention_flow.services.people import users
from retention_flow.services.platform import demo
from retention_flow.services.platform.context import AppContext

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def _count(ctx: AppContext, table: object, *where: object) -> int:
    with read_session(ctx.db) as session:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        for clause in where:
            query = query.where(clause)  # type: ignore[arg-type]
        return int(session.execute(query).scalar_one())


def test_demo_seeds_every_channel_once(product_ctx: AppContext) -> None:
    ctx = product_ctx
    first = demo.seed(
        ctx, processes_dir=PROCESSES, customers=300, cases_total=80, password="demo-pass-1"
    )
    assert first.deployed == ["intake", "retention"] and first.cases_started == 80
    assert set(first.users_created) == set(demo.DEMO_USERS)
    assert _count(ctx, CUSTOMER) == 300
    with read_session(ctx.db) as session:
        channels = set(session.execute(select(CASE.c.channel).distinct()).scalars())
        roles = set(
            session.execute(
                select(WORK_ITEM.c.role).where(WORK_ITEM.c.state == "ready").distinct()
            ).scalars()
        )
    assert channels == {"outbound", "inbound", "mail", "partner"}
    assert {"telemarketing", "inbound"} <= roles
    assert users.authenticate(ctx, "agent1", "demo-pass-1").username == "agent1"
    again = demo.seed(ctx, processes_dir=PROCESSES, customers=300, cases_total=80)
    assert (again.deployed, again.users_created, again.cases_started, again.customers_created) == (
        [],
        {},
        0,
        0,
    )
    assert _count(ctx, CASE) == 80 and _count(ctx, USER) == len(demo.DEMO_USERS)
