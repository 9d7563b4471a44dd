"""KPIs computed from the record itself: cases, work items and audit events (no counters
that could drift from what happened).

Definitions (period ``[start, end)``):

- ``volume``: cases created in the period.
- ``ended`` / ``retained`` / ``retention_rate``: cases that ended in the period with an
  outcome; the share of them retained.
- ``tasks_completed``: work items completed in the period.
- ``avg_handling_seconds``: claim -> complete of those tasks (the last ``task_claimed`` /
  ``task_assigned`` event before the completion; a task completed straight from the queue
  is claimed in passing and counts 0).
- ``avg_waiting_seconds``: task created -> first claim (or completion).
- ``service_level``: share of completed tasks done by their due time.
- ``first_contact_resolution``: of the ended cases with at least one completed contact task
  (roles agent, telemarketing, inbound, specialist, partner), the share that needed exactly one.
- ``backlog`` / ``backlog_overdue``: work items open at the end of the period (or of the
  period bucket), and of those the ones past their due time.

Case metrics (volume, ended, retained, retention rate, first-contact resolution) count
retention cases: every case but those of bundles whose bundle.json says
``"retention_cases": false`` (the intake bundle's scan exceptions, whose outcomes are
``assigned`` / ``discarded``, would otherwise dilute the retention rate). Their tasks are
real work, so the task metrics and the backlog count them.

Groups: ``channel``, ``process``, ``version`` (process and version the case runs on, e.g.
``outbound_telemarketing v2``: how each deployed version performs), ``offer`` (the case's
``offer_code``), ``partner`` (the
case's ``allocated_partner``), ``agent`` (task metrics: who completed the task, backlog: who
holds it; case metrics: who completed the case's last contact task) and ``period``
(``day`` / ``week`` / ``month`` buckets). There is no team in the data model yet, so no
team grouping.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from ..core.errors import ValidationFailed
from ..db.json_sql import json_text
from ..db.session import read_session
from ..db.tables import AUDIT_EVENT, CASE, DEPLOYMENT, USER, WORK_ITEM
from .context import AppContext

GROUPS = ("channel", "process", "version", "offer", "partner", "agent", "team", "period")
GRANULARITIES = ("day", "week", "month")
CONTACT_ROLES = frozenset({"agent", "telemarketing", "inbound", "specialist", "partner"})
NONE = "(none)"
SCORE_COMPONENTS = ("retention_rate", "service_level", "first_contact_resolution", "handling")


@dataclass
class _Acc:
    volume: int = 0
    ended: int = 0
    retained: int = 0
    fcr_cases: int = 0
    fcr_first: int = 0
    tasks: int = 0
    within_due: int = 0
    handling: float = 0.0
    waiting: float = 0.0
    backlog: int = 0
    overdue: int = 0
    agents: set[str] = field(default_factory=set)

    def row(self) -> dict[str, Any]:
        return {
            "volume": self.volume,
            "ended": self.ended,
            "retained": self.retained,
            "retention_rate": _ratio(self.retained, self.ended),
            "tasks_completed": self.tasks,
            "avg_handling_seconds": _avg(self.handling, self.tasks),
            "avg_waiting_seconds": _avg(self.waiting, self.tasks),
            "service_level": _ratio(self.within_due, self.tasks),
            "fcr_cases": self.fcr_cases,
            "first_contact_resolution": _ratio(self.fcr_first, self.fcr_cases),
            "backlog": self.backlog,
            "backlog_overdue": self.overdue,
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _avg(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def bucket(at: datetime, granularity: str) -> str:
    at = at.astimezone(UTC)
    if granularity == "day":
        return at.date().isoformat()
    if granularity == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{at.year}-{at.month:02d}"


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


def _case_columns() -> list[Any]:
    """What the KPIs need of a case (offer and partner come from its data)."""
    return [
        CASE.c.id,
        CASE.c.deployment_id,
        CASE.c.channel,
        CASE.c.process_id,
        CASE.c.process_version,
        CASE.c.status,
        CASE.c.outcome,
        CASE.c.created_at,
        CASE.c.ended_at,
        json_text(CASE.c.data, "offer_code").label("offer"),
        json_text(CASE.c.data, "allocated_partner").label("partner"),
    ]


def compute(
    ctx: AppContext,
    *,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = (),
    granularity: str = "day",
) -> list[dict[str, Any]]:
    """KPI rows, one per group (``{"group": {...}, <kpis>}``), sorted by group."""
    group_by = list(dict.fromkeys(group_by))
    _check(group_by, granularity, start, end)
    with read_session(ctx.db) as session:
        conn = session.connection()
        case_rows = conn.execute(
            select(*_case_columns()).where(
                or_(
                    and_(CASE.c.created_at >= start, CASE.c.created_at < end),
                    and_(CASE.c.ended_at >= start, CASE.c.ended_at < end),
                    and_(CASE.c.created_at < end, CASE.c.status.in_(("active", "incident"))),
                )
            )
        ).mappings()
        cases = {r["id"]: dict(r) for r in case_rows}
        items = [
            dict(r)
            for r in conn.execute(
                select(WORK_ITEM).where(
                    and_(
                        WORK_ITEM.c.created_at < end,
                        or_(WORK_ITEM.c.ended_at.is_(None), WORK_ITEM.c.ended_at >= start),
                    )
                )
            ).mappings()
        ]
        missing = {i["case_id"] for i in items} - cases.keys()
        for chunk in _chunks(sorted(missing), 500):
            for r in conn.execute(select(*_case_columns()).where(CASE.c.id.in_(chunk))).mappings():
                cases[r["id"]] = dict(r)
        done = [i for i in items if i["state"] == "completed" and start <= i["ended_at"] < end]
        claims = _claims(conn, [i["id"] for i in done])
        ended_ids = {
            cid
            for cid, c in cases.items()
            if c["ended_at"] is not None and start <= c["ended_at"] < end and c["outcome"]
        }
        contacts = _contact_tasks(conn, ended_ids)
        not_retention = {
            deployment_id
            for deployment_id, manifest in conn.execute(
                select(DEPLOYMENT.c.id, DEPLOYMENT.c.manifest)
            )
            if (manifest or {}).get("retention_cases") is False
        }
        teams: dict[str, str | None] = (
            dict(conn.execute(select(USER.c.username, USER.c.team)).all())
            if "team" in group_by
            else {}
        )

    accs: dict[tuple[str, ...], _Acc] = defaultdict(_Acc)

    def key(
        case: dict[str, Any] | None, agent: str | None, at: datetime, item_partner: Any = None
    ) -> tuple[str, ...]:
        values = []
        for g in group_by:
            if g == "channel":
                values.append((case or {}).get("channel") or NONE)
            elif g == "process":
                values.append((case or {}).get("process_id") or NONE)
            elif g == "version":  # how each deployed version performs
                values.append(f"{case['process_id']} v{case['process_version']}" if case else NONE)
            elif g == "offer":
                values.append((case or {}).get("offer") or NONE)
            elif g == "partner":
                values.append(item_partner or (case or {}).get("partner") or NONE)
            elif g == "agent":
                values.append(agent or NONE)
            elif g == "team":
                values.append((teams.get(agent) if agent else None) or NONE)
            else:
                values.append(bucket(at, granularity))
        return tuple(values)

    for case in cases.values():
        if case["deployment_id"] in not_retention:
            continue  # not a retention case (see the module docstring); its tasks count
        if start <= case["created_at"] < end:
            agent = contacts.get(case["id"], (0, None))[1]
            accs[key(case, agent, case["created_at"])].volume += 1
        if case["id"] in ended_ids:
            count, agent = contacts.get(case["id"], (0, None))
            acc = accs[key(case, agent, case["ended_at"])]
            acc.ended += 1
            acc.retained += case["outcome"] == "retained"
            if count:
                acc.fcr_cases += 1
                acc.fcr_first += count == 1
    for item in done:
        item_case = cases.get(item["case_id"])
        acc = accs[key(item_case, item["ended_by"], item["ended_at"], item["partner"])]
        first, last = claims.get(item["id"], (None, None))
        acc.tasks += 1
        acc.within_due += item["ended_at"] <= item["due_at"]
        acc.handling += ((item["ended_at"] - last) if last else timedelta()).total_seconds()
        acc.waiting += ((first or item["ended_at"]) - item["created_at"]).total_seconds()
    snapshots = _bucket_ends(start, end, granularity) if "period" in group_by else [("", end)]
    for item in items:
        if item["state"] == "cancelled" and item["ended_at"] is None:
            continue
        for _name, at in snapshots:
            if item["created_at"] < at and (item["ended_at"] is None or item["ended_at"] >= at):
                open_case = cases.get(item["case_id"])
                # who holds it: known for tasks still claimed; not kept for past moments
                holder = item["claimed_by"] if item["state"] == "claimed" else None
                acc = accs[key(open_case, holder, at - timedelta(microseconds=1), item["partner"])]
                acc.backlog += 1
                acc.overdue += item["due_at"] < at
    return [{"group": dict(zip(group_by, k, strict=True)), **accs[k].row()} for k in sorted(accs)]


def dashboard(
    ctx: AppContext, *, start: datetime, end: datetime, by: str, granularity: str = "day"
) -> dict[str, Any]:
    """What the KPI dashboard draws: ``totals`` (one row per ``by`` group over the whole
    period), ``periods`` (one row per period bucket and group that has any) and
    ``buckets`` (every bucket of the period, in order, so quiet days show as zero)."""
    if by == "period":
        raise ValidationFailed("group the dashboard by something other than the period")
    return {
        "by": by,
        "granularity": granularity,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "buckets": [name for name, _end in _bucket_ends(start, end, granularity)],
        "totals": compute(ctx, start=start, end=end, group_by=[by], granularity=granularity),
        "periods": compute(
            ctx, start=start, end=end, group_by=["period", by], granularity=granularity
        ),
    }


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _claims(conn: Any, task_ids: Sequence[str]) -> dict[str, tuple[datetime, datetime]]:
    """Per task: (first claim, last claim before completion) from the audit trail."""
    out: dict[str, tuple[datetime, datetime]] = {}
    for chunk in _chunks(task_ids, 500):
        rows = conn.execute(
            select(AUDIT_EVENT.c.task_id, AUDIT_EVENT.c.type, AUDIT_EVENT.c.at)
            .where(
                and_(
                    AUDIT_EVENT.c.task_id.in_(chunk),
                    AUDIT_EVENT.c.type.in_(("task_claimed", "task_assigned", "task_unclaimed")),
                )
            )
            .order_by(AUDIT_EVENT.c.at, AUDIT_EVENT.c.seq)
        ).all()
        for task_id, type_, at in rows:
            if type_ != "task_unclaimed":
                out[task_id] = (out[task_id][0] if task_id in out else at, at)
    return out


def _contact_tasks(conn: Any, case_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
    """Per case: completed contact tasks and who completed the last one."""
    out: dict[str, tuple[int, str | None]] = {}
    for chunk in _chunks(sorted(case_ids), 500):
        rows = conn.execute(
            select(WORK_ITEM.c.case_id, WORK_ITEM.c.ended_by)
            .where(
                and_(
                    WORK_ITEM.c.case_id.in_(chunk),
                    WORK_ITEM.c.state == "completed",
                    WORK_ITEM.c.role.in_(sorted(CONTACT_ROLES)),
                )
            )
            .order_by(WORK_ITEM.c.ended_at)
        ).all()
        for case_id, ended_by in rows:
            count, _agent = out.get(case_id, (0, None))
            out[case_id] = (count + 1, ended_by)
    return out


def scorecard(ctx: AppContext, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per agent: a score in [0, 1] from weighted KPIs (weights in settings), with every
    component shown: value, normalised value, weight and contribution. Components without
    data (e.g. no ended case) are left out and the other weights re-normalised."""
    weights = ctx.settings.kpi_scorecard_weights
    target = ctx.settings.kpi_target_handling_seconds
    out = []
    for row in compute(ctx, start=start, end=end, group_by=["agent"]):
        agent = row["group"]["agent"]
        if agent == NONE:
            continue
        aht = row["avg_handling_seconds"]
        values: dict[str, tuple[float | None, float | None]] = {
            "retention_rate": (row["retention_rate"], row["retention_rate"]),
            "service_level": (row["service_level"], row["service_level"]),
            "first_contact_resolution": (
                row["first_contact_resolution"],
                row["first_contact_resolution"],
            ),
            "handling": (aht, None if aht is None else min(1.0, target / aht) if aht else 1.0),
        }
        used = {k: w for k, w in weights.items() if k in values and values[k][1] is not None}
        total_weight = sum(used.values())
        components = []
        score = 0.0
        for name in SCORE_COMPONENTS:
            raw, norm = values[name]
            weight = weights.get(name, 0.0)
            share = weight / total_weight if total_weight and name in used else 0.0
            contribution = (norm or 0.0) * share
            score += contribution
            components.append(
                {
                    "kpi": name,
                    "value": raw,
                    "normalised": None if norm is None else round(norm, 6),
                    "weight": weight,
                    "effective_weight": round(share, 6),
                    "contribution": round(contribution, 6),
                }
            )
        out.append(
            {
                "agent": agent,
                "score": round(score, 6),
                "components": components,
                "tasks_completed": row["tasks_completed"],
            }
        )
    return sorted(out, key=lambda r: (-r["score"], r["agent"]))


CSV_KPIS = (
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


def to_csv(rows: list[dict[str, Any]], group_by: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*group_by, *CSV_KPIS])
    for row in rows:
        writer.writerow(
            [row["group"].get(g, "") for g in group_by]
            + ["" if row[k] is None else row[k] for k in CSV_KPIS]
        )
    return out.getvalue()
