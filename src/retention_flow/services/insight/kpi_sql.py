"""The KPI queries: SQL aggregates over indexed columns, one statement per fact family,
so a period costs what happened in it and not the size of the history.

Every statement answers rows of *sums and counts* per raw group key (a day for the period
grouping, the agent for the team grouping); ``services/insight/kpis.py`` adds those rows up into
day/week/month buckets and teams and turns them into rates. Nothing loads a case.

Indexes read (migration 0019): ``ix_case_created``, ``ix_case_ended``,
``ix_work_item_ended``, ``ix_work_item_open`` (state, created_at),
``ix_work_item_case_id`` and ``ix_case_key_lookup`` (key, value).

SQLite and PostgreSQL differ in date arithmetic and JSON typing: the four helpers below
are the only dialect-specific parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from retention_flow.db.json_sql import json_text
from retention_flow.db.tables import CASE, CASE_KEY, OFFER_DECISION, WORK_ITEM

#: roles whose tasks are customer contacts (who talks to the customer)
CONTACT_ROLES = ("agent", "inbound", "partner", "specialist", "telemarketing")
OPEN = ("ready", "claimed")


# --------------------------------------------------------------------------- dialects


def seconds_between(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    """``b - a`` in seconds."""
    if dialect == "postgresql":
        return func.extract("epoch", b - a)
    return (func.julianday(b) - func.julianday(a)) * 86400.0


def day_of(dialect: str, column: Any) -> ColumnElement[Any]:
    """The UTC day of a timestamp as ``YYYY-MM-DD``."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def plus_days(dialect: str, column: Any, days: int) -> ColumnElement[Any]:
    """A timestamp ``days`` later (SQLite: to the millisecond)."""
    if dialect == "postgresql":
        interval: ColumnElement[Any] = column + func.make_interval(0, 0, 0, days)
        return interval
    return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{int(days)} days")


def json_number(dialect: str, key: str) -> ColumnElement[Any]:
    """A number in the case data, else NULL (a string or object there is not a number:
    no cast error on hostile data)."""
    if dialect == "postgresql":
        return case(
            (func.jsonb_typeof(CASE.c.data[key]) == "number", CASE.c.data[key].as_float()),
            else_=null(),
        )
    path = '$."' + key.replace('"', "") + '"'
    return case(
        # a malformed row (NaN stored before the strict rule) would fail json_type for the
        # whole statement: such rows read as NULL (CASE stops at the first match)
        (func.json_valid(CASE.c.data) == 0, null()),
        (
            func.json_type(CASE.c.data, path).in_(("integer", "real")),
            cast(func.json_extract(CASE.c.data, path), Float),
        ),
        else_=null(),
    )


def prepare(conn: Any) -> None:
    """Settings of the read transaction the statements run in. PostgreSQL: no JIT. The
    per-case subqueries make the planner's cost large enough to compile the statement,
    which took 7.6 s of the 13.8 s the ended-cases statement ran for on bench/kpis.py's
    100,000 cases on a loaded machine (EXPLAIN ANALYZE), and gains nothing for a
    statement that reads one window."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class Query:
    """What every statement needs: the dialect, the period, the grouping and the cases
    that are not retention cases (their deployments)."""

    dialect: str
    start: datetime
    end: datetime
    groups: Sequence[str]
    not_retention: Sequence[str]

    def retention(self) -> ColumnElement[bool]:
        if not self.not_retention:
            return literal(True)
        return CASE.c.deployment_id.not_in(list(self.not_retention))


def last_contact_agent() -> ScalarSelect[Any]:
    """Who completed the case's last contact task (a case's agent)."""
    w = WORK_ITEM.alias("la")
    return (
        select(w.c.ended_by)
        .where(
            and_(w.c.case_id == CASE.c.id, w.c.state == "completed", w.c.role.in_(CONTACT_ROLES))
        )
        .order_by(w.c.ended_at.desc(), w.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def routing_rule(source: str) -> ColumnElement[Any]:
    """The rule of the latest "next task" offer of a task (``offer_decision``), or
    ``direct`` for a task taken from the queue or assigned without an offer; a case's is
    its last completed contact task's."""
    od = OFFER_DECISION.c
    if source != "case":
        rule = select(od.rule).where(od.task_id == WORK_ITEM.c.id)
        return func.coalesce(rule.order_by(od.id.desc()).limit(1).scalar_subquery(), "direct")
    w = WORK_ITEM.alias("lt")
    last = (
        select(OFFER_DECISION.c.rule)
        .select_from(w.outerjoin(OFFER_DECISION, od.task_id == w.c.id))
        .where(
            and_(w.c.case_id == CASE.c.id, w.c.state == "completed", w.c.role.in_(CONTACT_ROLES))
        )
        .order_by(w.c.ended_at.desc(), w.c.id.desc(), od.id.desc())
        .limit(1)
        .correlate(CASE)
    )
    return func.coalesce(last.scalar_subquery(), literal("direct"))


def _key(q: Query, group: str, source: str, at: Any) -> ColumnElement[Any]:
    if source != "case" and group in CASE_GROUPS:
        return _case_key(q, group, source)
    w = WORK_ITEM.c
    if group == "segment":
        return CASE.c.segment
    if group == "routing_rule":
        return routing_rule(source)
    if group == "channel":
        return CASE.c.channel
    if group == "process":
        return CASE.c.process_id
    if group == "version":
        return CASE.c.process_id.concat(" v").concat(cast(CASE.c.process_version, String))
    if group == "offer":
        return json_text(CASE.c.data, "offer_code")
    if group == "partner":
        allocated = json_text(CASE.c.data, "allocated_partner")
        return allocated if source == "case" else func.coalesce(w.partner, allocated)
    if group in ("agent", "team"):  # teams: the agent's, looked up after the sums
        if source == "task":
            ended: ColumnElement[Any] = w.ended_by
            return ended
        if source == "backlog":  # who holds it: known for tasks still claimed
            return case((w.state == "claimed", w.claimed_by), else_=null())
        return last_contact_agent()
    day: ColumnElement[Any] = day_of(q.dialect, at) if at is not None else literal("")
    return day


def _case_key(q: Query, group: str, source: str) -> ColumnElement[Any]:
    """A work item's case group, as a lookup of its case by primary key. Not a join: a
    planner joining a period's items to the cases may hash the whole case table, which
    grows with the history (PostgreSQL did, bench/kpis.py)."""
    of_case = select(_key(q, group, "case", None)).where(CASE.c.id == WORK_ITEM.c.case_id)
    looked_up = of_case.scalar_subquery()
    return func.coalesce(WORK_ITEM.c.partner, looked_up) if group == "partner" else looked_up


def keys(q: Query, source: str, at: Any) -> list[Any]:
    return [_key(q, g, source, at).label(f"k{i}") for i, g in enumerate(q.groups)]


def _grouped(q: Query, inner: Any, sums: Any) -> Any:
    """Group the rows of ``inner`` (a select with key columns k0.. and the values
    ``sums(columns)`` adds up) by their keys."""
    # OFFSET 0: the per-row facts are computed once per row. Without it both databases
    # fold the subquery into the aggregate and run a correlated lookup once for every
    # sum that names it (PostgreSQL's plan of cases_ended ran the contacts lookup twice)
    rows = inner.offset(0).subquery("f")
    columns = [rows.c[f"k{i}"] for i in range(len(q.groups))]
    statement = select(*columns, *sums(rows.c)).select_from(rows)
    return statement.group_by(*columns) if columns else statement


#: groups read off the case row (a work item's are looked up by its case id)
CASE_GROUPS = frozenset({"channel", "process", "version", "offer", "partner", "segment"})


# --------------------------------------------------------------------------- statements


def tasks_done(q: Query, answer_seconds: float) -> Any:
    """Work items completed in the period: count, within due, handling, waiting."""
    w = WORK_ITEM.c
    waiting = seconds_between(q.dialect, w.created_at, func.coalesce(w.first_worked_at, w.ended_at))
    inner = select(
        *keys(q, "task", w.ended_at),
        case((w.ended_at <= w.due_at, 1), else_=0).label("on_time"),
        w.handling_seconds,
        waiting.label("waited"),
    ).where(and_(w.ended_at >= q.start, w.ended_at < q.end, w.state == "completed"))

    def sums(c: Any) -> list[Any]:
        return [
            func.count().label("tasks"),
            func.sum(c.on_time).label("within_due"),
            func.sum(func.coalesce(c.handling_seconds, 0.0)).label("handling"),
            func.count(c.handling_seconds).label("handled"),
            func.sum(c.waited).label("waiting"),
            func.sum(case((c.waited <= answer_seconds, 1), else_=0)).label("answered"),
        ]

    return _grouped(q, inner, sums)


def cases_opened(q: Query) -> Any:
    """Retention cases created in the period."""
    inner = select(*keys(q, "case", CASE.c.created_at), CASE.c.id).where(
        and_(CASE.c.created_at >= q.start, CASE.c.created_at < q.end, q.retention())
    )
    return _grouped(q, inner, lambda c: [func.count().label("volume")])


def _ended(q: Query) -> ColumnElement[bool]:
    return and_(
        CASE.c.ended_at >= q.start,
        CASE.c.ended_at < q.end,
        CASE.c.outcome.is_not(None),
        q.retention(),
    )


def _per_case() -> tuple[Any, Any, Any]:
    """Of the case (correlated, by ``ix_work_item_case_id``): its completed human tasks,
    their handling added up, and its contacts (a contact task starts a new contact unless
    the same person completed a contact task of the case at the very moment this one was
    created: one call, several screens)."""
    w, p = WORK_ITEM.alias("w"), WORK_ITEM.alias("p")
    done = and_(w.c.case_id == CASE.c.id, w.c.state == "completed")
    continues = exists().where(
        and_(
            p.c.case_id == w.c.case_id,
            p.c.state == "completed",
            p.c.role.in_(CONTACT_ROLES),
            p.c.ended_by == w.c.ended_by,
            p.c.ended_at == w.c.created_at,
        )
    )
    human = select(func.count()).where(done).scalar_subquery()
    manual = select(func.coalesce(func.sum(w.c.handling_seconds), 0.0)).where(done)
    contacts = select(func.count()).where(and_(done, w.c.role.in_(CONTACT_ROLES), ~continues))
    return human, manual.scalar_subquery(), contacts.scalar_subquery()


def _repeat(q: Query, days: int) -> Any:
    """Another case of the same customer (``customer_id`` key) created after this one
    ended, within ``days`` days."""
    mine, theirs, other = CASE_KEY.alias("k1"), CASE_KEY.alias("k2"), CASE.alias("c2")
    return (
        exists()
        .select_from(
            mine.join(
                theirs,
                and_(
                    theirs.c.key == mine.c.key,
                    theirs.c.value == mine.c.value,
                    theirs.c.case_id != mine.c.case_id,
                ),
            ).join(other, other.c.id == theirs.c.case_id)
        )
        .where(
            and_(
                mine.c.case_id == CASE.c.id,
                mine.c.key == "customer_id",
                other.c.created_at > CASE.c.ended_at,
                other.c.created_at < plus_days(q.dialect, CASE.c.ended_at, days),
            )
        )
    )


def cases_ended(
    q: Query, *, fcr_days: int, manual_target: float, offer_costs: dict[str, int]
) -> Any:
    """Retention cases that ended in the period with an outcome, and their facts."""
    human, manual, contacts = _per_case()
    revenue = json_number(q.dialect, "monthly_revenue_cents")
    offer = json_text(CASE.c.data, "offer_code")
    listed: Any = (
        case(*((offer == code, float(cents)) for code, cents in offer_costs.items()), else_=null())
        if offer_costs
        else null()
    )
    inner = select(
        *keys(q, "case", CASE.c.ended_at),
        CASE.c.outcome,
        offer.label("offer"),
        human.label("human"),
        manual.label("manual"),
        contacts.label("contacts"),
        case((_repeat(q, fcr_days), 1), else_=0).label("repeated"),
        seconds_between(q.dialect, CASE.c.created_at, CASE.c.ended_at).label("resolution"),
        revenue.label("revenue"),
        func.coalesce(json_number(q.dialect, "offer_cost_cents"), listed).label("cost"),
        json_number(q.dialect, "csat").label("csat"),
    ).where(_ended(q))

    def sums(c: Any) -> list[Any]:
        retained = c.outcome == "retained"
        answered = and_(c.csat >= 1, c.csat <= 5)

        def count_if(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        return [
            func.count().label("ended"),
            count_if(retained).label("retained"),
            count_if(c.outcome == "no_response").label("no_response"),
            count_if(c.human == 0).label("automated"),
            func.sum(c.manual).label("manual"),
            count_if(c.manual < manual_target).label("manual_under"),
            count_if(c.contacts >= 1).label("fcr_cases"),
            count_if(and_(c.contacts == 1, c.repeated == 0)).label("fcr_first"),
            func.sum(c.resolution).label("resolution"),
            func.sum(case((retained, func.coalesce(c.revenue, 0.0)), else_=0.0)).label(
                "saved_revenue"
            ),
            func.sum(case((retained, func.coalesce(c.cost, 0.0)), else_=0.0)).label("offer_cost"),
            count_if(and_(retained, c.offer.is_not(None), c.cost.is_(None))).label(
                "offer_cost_unknown"
            ),
            count_if(answered).label("csat_answered"),
            func.sum(case((answered, c.csat), else_=0.0)).label("csat_sum"),
        ]

    return _grouped(q, inner, sums)


def backlog(q: Query, at: datetime) -> list[Any]:
    """Work items open at ``at`` and of those the ones past due: the ones open now and
    created before, plus the ones that ended after it (two index ranges, not one scan)."""
    w = WORK_ITEM.c
    columns = keys(q, "backlog", None)

    def sums(c: Any) -> list[Any]:
        return [
            func.count().label("backlog"),
            func.sum(case((c.due_at < at, 1), else_=0)).label("overdue"),
        ]

    return [
        _grouped(q, select(*columns, w.due_at).where(where), sums)
        for where in (
            and_(w.state.in_(OPEN), w.created_at < at),
            and_(w.ended_at >= at, w.created_at < at),
        )
    ]
