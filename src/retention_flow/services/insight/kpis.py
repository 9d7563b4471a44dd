"""KPIs computed in the database from the record itself (cases, work items, case keys):
no counters that could drift from what happened, and no case loaded into Python.

The definitions are written once, in ``services/insight/kpi_definitions.py`` (served on the
dashboard and in ``docs/kpis.md``); the SQL is in ``services/insight/kpi_sql.py``. This module
runs the statements for a period, adds their sums up by group and bucket, and turns them
into rates.

Groups: ``channel``, ``process``, ``version`` (process and version the case runs on, e.g.
``outbound_telemarketing v2``), ``offer`` (the case's ``offer_code``), ``partner`` (the
task's partner, else the case's ``allocated_partner``), ``agent`` (task metrics: who
completed the task; backlog: who holds it; case metrics: who completed the case's last
contact task), ``team`` (the agent's team), ``segment`` (the case's customer segment),
``routing_rule`` (how "next task" offered the task: ``sla``, ``outcome``, ``explore``,
``fifo``, or ``direct`` when it was taken from the queue or assigned; a case's is its last
contact task's) and ``period`` (``day`` / ``week`` / ``month``
buckets, UTC).

Every answer carries its ``as_of`` moment: now, or the end of the period if that is
earlier. Open work (backlog, overdue misses in the service level) is judged then.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from retention_flow.core.errors import ValidationFailed
from retention_flow.db.session import read_session
from retention_flow.db.tables import DEPLOYMENT, USER
from retention_flow.services.incentives.plan_lookup import plan_in_force
from retention_flow.services.incentives.qa import quality_by_agent
from retention_flow.services.insight import kpi_sql
from retention_flow.services.insight.kpi_definitions import CSV_KPIS, Sums
from retention_flow.services.insight.views import KpiDashboard, KpiRow, Scorecard, ScoreComponent
from retention_flow.services.platform.context import AppContext

GROUPS = (
    "channel",
    "process",
    "version",
    "offer",
    "partner",
    "agent",
    "team",
    "segment",
    "routing_rule",
    "period",
)
GRANULARITIES = ("day", "week", "month")
CONTACT_ROLES = frozenset(kpi_sql.CONTACT_ROLES)
NONE = "(none)"
SCORE_COMPONENTS = (
    "retention_rate",
    "service_level",
    "first_contact_resolution",
    "handling",
    "quality",
)
__all__ = [
    "CSV_KPIS",
    "GROUPS",
    "as_of",
    "compute",
    "dashboard",
    "overall",
    "scorecard",
    "to_csv",
]


def bucket(at: datetime | date, granularity: str) -> str:
    day = at.astimezone(UTC).date() if isinstance(at, datetime) else at
    if granularity == "day":
        return day.isoformat()
    if granularity == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _bucket_ends(start: datetime, end: datetime, granularity: str) -> list[tuple[str, datetime]]:
    """(bucket name, end of the bucket inside the period): where backlog is counted."""
    out: list[tuple[str, datetime]] = []
    current = bucket(start, granularity)
    day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    while day < end:
        name = bucket(day, granularity)
        if name != current:
            out.append((current, day))
            current = name
        day += timedelta(days=1)
    out.append((current, end))
    return out


def _check(group_by: Sequence[str], granularity: str, start: datetime, end: datetime) -> None:
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown or granularity not in GRANULARITIES or start >= end:
        raise ValidationFailed(
            "unknown grouping or empty period",
            errors=[{"field": "group_by", "message": f"one or more of {', '.join(GROUPS)}"}]
            if unknown
            else [{"field": "period", "message": "start must be before end; day/week/month"}],
        )


def as_of(ctx: AppContext, end: datetime) -> datetime:
    """The moment a report on a period ending at ``end`` describes."""
    return min(ctx.now(), end)


def _snapshots(
    start: datetime, end: datetime, moment: datetime, granularity: str, per_bucket: bool
) -> list[tuple[str, datetime]]:
    """Where open work is judged: at the as-of moment, or per bucket at its end (never
    after the as-of moment; buckets that start after it have none)."""
    if not per_bucket:
        return [("", moment)] if moment > start else []
    out: list[tuple[str, datetime]] = []
    for name, bucket_end in _bucket_ends(start, end, granularity):
        at = min(bucket_end, moment)
        if at > start and (not out or out[-1][1] < at):
            out.append((name, at))
    return out


def compute(
    ctx: AppContext,
    *,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = (),
    granularity: str = "day",
) -> list[KpiRow]:
    """KPI rows, one per group (``KpiRow.group`` names it), sorted by group; every
    figure as of ``as_of(ctx, end)``."""
    group_by = list(dict.fromkeys(group_by))
    _check(group_by, granularity, start, end)
    settings = ctx.settings
    moment = as_of(ctx, end)
    sums: dict[tuple[str, ...], Sums] = defaultdict(Sums)
    with read_session(ctx.db) as session:
        conn = session.connection()
        kpi_sql.prepare(conn)
        q = kpi_sql.Query(
            dialect=conn.dialect.name,
            start=start,
            end=end,
            groups=group_by,
            not_retention=_not_retention(conn),
        )
        teams = dict(conn.execute(select(USER.c.username, USER.c.team)).all())
        if "team" not in group_by:
            teams = {}

        def add(statement: Any, snapshot: str | None = None) -> None:
            for row in conn.execute(statement).mappings():
                raw = [row[f"k{i}"] for i in range(len(group_by))]
                sums[_final_key(group_by, raw, granularity, teams, snapshot)].add(row)

        add(kpi_sql.tasks_done(q, settings.kpi_answer_seconds))
        add(kpi_sql.cases_opened(q))
        add(
            kpi_sql.cases_ended(
                q,
                fcr_days=settings.kpi_fcr_days,
                manual_target=settings.kpi_manual_target_seconds,
                offer_costs=settings.kpi_offer_cost_cents,
            )
        )
        for name, at in _snapshots(start, end, moment, granularity, "period" in group_by):
            for statement in kpi_sql.backlog(q, at):
                add(statement, name)
    return [
        KpiRow(group=dict(zip(group_by, k, strict=True)), **sums[k].row()) for k in sorted(sums)
    ]


def _not_retention(conn: Any) -> list[str]:
    """Deployments whose bundle.json says ``"retention_cases": false``."""
    return sorted(
        deployment_id
        for deployment_id, manifest in conn.execute(select(DEPLOYMENT.c.id, DEPLOYMENT.c.manifest))
        if (manifest or {}).get("retention_cases") is False
    )


def _final_key(
    group_by: Sequence[str],
    raw: Sequence[Any],
    granularity: str,
    teams: dict[str, str | None],
    snapshot: str | None,
) -> tuple[str, ...]:
    out = []
    for group, value in zip(group_by, raw, strict=True):
        if group == "period":
            out.append(
                snapshot if snapshot is not None else bucket(date.fromisoformat(value), granularity)
            )
        elif group == "team":
            out.append((teams.get(value) if value else None) or NONE)
        else:
            out.append(str(value) if value is not None and value != "" else NONE)
    return tuple(out)


def dashboard(
    ctx: AppContext, *, start: datetime, end: datetime, by: str, granularity: str = "day"
) -> KpiDashboard:
    """What the KPI dashboard draws: ``totals`` (one row per ``by`` group over the whole
    period), ``overall`` (the whole period, no grouping), ``periods`` (one row per period
    bucket and group that has any) and ``buckets`` (every bucket of the period, in order,
    so quiet days show as zero)."""
    if by == "period":
        raise ValidationFailed("group the dashboard by something other than the period")
    return KpiDashboard(
        by=by,
        granularity=granularity,
        start=start.isoformat(),
        end=end.isoformat(),
        as_of=as_of(ctx, end).isoformat(),
        buckets=[name for name, _end in _bucket_ends(start, end, granularity)],
        overall=overall(ctx, start=start, end=end),
        totals=compute(ctx, start=start, end=end, group_by=[by], granularity=granularity),
        periods=compute(
            ctx, start=start, end=end, group_by=["period", by], granularity=granularity
        ),
    )


def overall(ctx: AppContext, *, start: datetime, end: datetime) -> KpiRow:
    """The whole period in one row (no grouping): the headline figures."""
    rows = compute(ctx, start=start, end=end)
    return rows[0] if rows else KpiRow(group={}, **Sums().row())


#: the scorecard's name of an incentive plan's KPI
PLAN_TO_SCORE = {
    "retention_rate": "retention_rate",
    "service_level": "service_level",
    "first_contact_resolution": "first_contact_resolution",
    "avg_handling_seconds": "handling",
    "quality": "quality",
}


def scorecard_weights(ctx: AppContext, start: datetime) -> dict[str, float]:
    """The weights of the incentive plan in force at ``start`` (one place for them: the
    plan a process owner edits); the ``kpi_scorecard_weights`` setting only where no
    plan was deployed."""
    with read_session(ctx.db) as session:
        found = plan_in_force(session.connection(), start)
    if found is None:
        return dict(ctx.settings.kpi_scorecard_weights)
    components = found[1].get("components") or []  # validated on deploy (IncentivePlan)
    return {
        PLAN_TO_SCORE[c["kpi"]]: float(c.get("weight") or 0.0)
        for c in components
        if isinstance(c, dict) and c.get("kpi") in PLAN_TO_SCORE
    }


def scorecard(ctx: AppContext, *, start: datetime, end: datetime) -> list[Scorecard]:
    """Per agent: a score in [0, 1] from weighted KPIs (``scorecard_weights``), with every
    component shown: value, normalised value, weight and contribution. Components without
    data (e.g. no ended case, no finished QA review) are left out and the other weights
    re-normalised. ``quality``: the mean QA review score of the agent's cases that ended
    in the period (``services/incentives/qa.py``)."""
    weights = scorecard_weights(ctx, start)
    target = ctx.settings.kpi_target_handling_seconds
    quality = quality_by_agent(ctx, start, end)
    out: list[Scorecard] = []
    for row in compute(ctx, start=start, end=end, group_by=["agent"]):
        agent = row.group["agent"]
        if agent == NONE:
            continue
        aht = row.avg_handling_seconds
        qa_score = quality.get(agent, (None, 0))[0]
        values: dict[str, tuple[float | None, float | None]] = {
            "retention_rate": (row.retention_rate, row.retention_rate),
            "service_level": (row.service_level, row.service_level),
            "first_contact_resolution": (
                row.first_contact_resolution,
                row.first_contact_resolution,
            ),
            "handling": (aht, None if aht is None else min(1.0, target / aht) if aht else 1.0),
            "quality": (qa_score, qa_score),
        }
        used = {k: w for k, w in weights.items() if k in values and values[k][1] is not None}
        total_weight = sum(used.values())
        components: list[ScoreComponent] = []
        score = 0.0
        for name in SCORE_COMPONENTS:
            raw, norm = values[name]
            weight = weights.get(name, 0.0)
            share = weight / total_weight if total_weight and name in used else 0.0
            contribution = (norm or 0.0) * share
            score += contribution
            components.append(
                ScoreComponent(
                    kpi=name,
                    value=raw,
                    normalised=None if norm is None else round(norm, 6),
                    weight=weight,
                    effective_weight=round(share, 6),
                    contribution=round(contribution, 6),
                )
            )
        out.append(
            Scorecard(
                agent=agent,
                score=round(score, 6),
                components=components,
                tasks_completed=row.tasks_completed,
                qa_reviews=quality.get(agent, (None, 0))[1],
            )
        )
    return sorted(out, key=lambda r: (-r.score, r.agent))


def to_csv(rows: list[KpiRow], group_by: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*group_by, *CSV_KPIS])
    for row in rows:
        writer.writerow(
            [row.group.get(g, "") for g in group_by]
            + ["" if getattr(row, k) is None else getattr(row, k) for k in CSV_KPIS]
        )
    return out.getvalue()
