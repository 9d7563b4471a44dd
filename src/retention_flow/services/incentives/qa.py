"""Quality reviews of sampled cases (monthly quality scores on samples, not impressions).

Each period (``YYYY-MM``, UTC) ``draw_sample`` picks, per agent, up to
``qa_sample_per_agent`` of the retention cases that agent closed in the period (the agent
of a case: who completed its last contact task), spread over strata (``qa_strata``: case
channel, outcome, process or offer) round-robin, at random within a stratum (seeded by
period and agent, so a draw can be reproduced). Each sample becomes a review task for a
user with the ``qa`` role; a share (``qa_double_share``) goes to two reviewers. The
reviewer is never the agent. The checklist is a form schema in the bundle
(``qa_form``, default ``qa_review.schema.json``): the latest deployed version at the draw;
its score is the share of yes/no items answered yes. Scores feed the agent scorecard
(``quality``) and the incentive plan; ``agreement`` reports how often two reviewers of one
sample answered each item alike.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from retention_flow.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from retention_flow.db.json_sql import json_text
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CASE, DEPLOYMENT, QA_REVIEW, USER
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.incentives.views import (
    QaAgreementView,
    QaReviewDetailView,
    QaReviewView,
    QaSampleView,
    ReviewedCase,
)
from retention_flow.services.insight import kpi_sql
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.tasks.work_items import validate_form

STRATA = {
    "channel": CASE.c.channel,
    "outcome": CASE.c.outcome,
    "process": CASE.c.process_id,
    "offer": json_text(CASE.c.data, "offer_code"),
}
STEWARDS = frozenset({"team_lead", "auditor", "admin", "process_owner"})


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` -> [first instant, first instant of the next month)."""
    try:
        year, month = (int(p) for p in period.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
    except (ValueError, TypeError):
        raise ValidationFailed(
            f"'{period}' is not a period", errors=[{"field": "period", "message": "YYYY-MM"}]
        ) from None
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _checklist(conn: Any, form: str) -> tuple[str, dict[str, Any]]:
    """The newest deployment holding the checklist form, and the form."""
    for deployment_id, files in conn.execute(
        select(DEPLOYMENT.c.id, DEPLOYMENT.c.files).order_by(DEPLOYMENT.c.deployed_at.desc())
    ):
        if form in (files or {}):
            return str(deployment_id), json.loads(files[form])
    raise Conflict(f"no deployed bundle has the QA checklist {form}")


def score_of(schema: dict[str, Any], answers: dict[str, Any]) -> float:
    """The share of the checklist's yes/no items answered yes."""
    items = [k for k, p in (schema.get("properties") or {}).items() if p.get("type") == "boolean"]
    if not items:
        raise Conflict("the QA checklist has no yes/no items to score")
    return round(sum(1 for k in items if answers.get(k) is True) / len(items), 6)


def _candidates(ctx: AppContext, conn: Any, start: datetime, end: datetime) -> list[Any]:
    strata = [s for s in ctx.settings.qa_strata if s in STRATA]
    agent = kpi_sql.last_contact_agent().label("agent")
    stratum = [STRATA[s].label(f"s_{s}") for s in strata]
    not_retention = [
        d
        for d, manifest in conn.execute(select(DEPLOYMENT.c.id, DEPLOYMENT.c.manifest))
        if (manifest or {}).get("retention_cases") is False
    ]
    q = kpi_sql.Query(conn.dialect.name, start, end, [], not_retention)
    statement = select(CASE.c.id, CASE.c.ended_at, agent, *stratum).where(
        and_(
            CASE.c.ended_at >= start,
            CASE.c.ended_at < end,
            CASE.c.outcome.is_not(None),
            q.retention(),
        )
    )
    return [r for r in conn.execute(statement.order_by(CASE.c.ended_at, CASE.c.id)) if r.agent]


def _pick(rows: list[Any], size: int, rng: random.Random) -> list[tuple[Any, str]]:
    """Up to ``size`` rows spread over their strata, round-robin."""
    by_stratum: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_stratum["/".join(str(v) for v in row[3:]) or "all"].append(row)
    for members in by_stratum.values():
        rng.shuffle(members)
    picked: list[tuple[Any, str]] = []
    while len(picked) < size and any(by_stratum.values()):
        for name in sorted(by_stratum):
            if by_stratum[name] and len(picked) < size:
                picked.append((by_stratum[name].pop(), name))
    return picked


def draw_sample(ctx: AppContext, actor: Actor, period: str) -> QaSampleView:
    """Draw the period's sample and create its review tasks (once per period)."""
    start, end = period_bounds(period)
    settings = ctx.settings
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        if conn.execute(select(QA_REVIEW.c.id).where(QA_REVIEW.c.period == period)).first():
            raise Conflict(f"the QA sample of {period} was already drawn")
        reviewers = sorted(
            u.username
            for u in conn.execute(select(USER.c.username, USER.c.roles, USER.c.disabled))
            if "qa" in (u.roles or []) and not u.disabled
        )
        if not reviewers:
            raise Conflict("there is no enabled user with the qa role to review")
        deployment_id, _form = _checklist(conn, settings.qa_form)
        per_agent: dict[str, list[Any]] = defaultdict(list)
        for row in _candidates(ctx, conn, start, end):
            per_agent[row.agent].append(row)
        load = dict.fromkeys(reviewers, 0)
        rows: list[dict[str, Any]] = []
        for agent in sorted(per_agent):
            rng = random.Random(f"{period}:{agent}")  # noqa: S311  (a reproducible draw)
            for case, stratum in _pick(per_agent[agent], settings.qa_sample_per_agent, rng):
                eligible = sorted((r for r in reviewers if r != agent), key=lambda r: (load[r], r))
                count = 2 if rng.random() < settings.qa_double_share else 1
                sample_id = str(uuid.uuid4())
                for reviewer in eligible[:count]:
                    load[reviewer] += 1
                    rows.append(
                        {
                            "id": str(uuid.uuid4()),
                            "sample_id": sample_id,
                            "period": period,
                            "case_id": case.id,
                            "case_ended_at": case.ended_at,
                            "agent": agent,
                            "stratum": stratum[:200],
                            "reviewer": reviewer,
                            "state": "open",
                            "form": settings.qa_form,
                            "deployment_id": deployment_id,
                            "created_by": actor.username,
                            "created_at": now,
                        }
                    )
        if rows:
            conn.execute(insert(QA_REVIEW), rows)
        samples = len({r["sample_id"] for r in rows})
        detail: dict[str, Any] = {"period": period, "samples": samples, "reviews": len(rows)}
        append_system(session, [NewEvent("qa_sample_drawn", actor.username, detail=detail)], now)
        session.commit()
    return QaSampleView(**detail, agents=len(per_agent), reviewers=reviewers)


def _shown(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("case_ended_at", "created_at", "done_at"):
        out[key] = out[key].isoformat() if out[key] else None
    return out


def _visible(actor: Actor, row: Any) -> bool:
    return actor.username in (row.reviewer, row.agent) or bool(actor.roles & STEWARDS)


def list_reviews(
    ctx: AppContext, actor: Actor, *, period: str | None = None, as_: str = "auto"
) -> list[QaReviewView]:
    """Reviews the actor may see: a reviewer's own tasks (``as_=reviewer``), an agent's
    reviews of their own cases (``as_=agent``), everything for stewards."""
    statement = select(QA_REVIEW).order_by(QA_REVIEW.c.period.desc(), QA_REVIEW.c.created_at)
    if period:
        statement = statement.where(QA_REVIEW.c.period == period)
    if as_ == "auto":
        as_ = "all" if actor.roles & STEWARDS else "reviewer" if "qa" in actor.roles else "agent"
    if as_ == "reviewer":
        statement = statement.where(QA_REVIEW.c.reviewer == actor.username)
    elif as_ == "agent" or not actor.roles & STEWARDS:
        statement = statement.where(QA_REVIEW.c.agent == actor.username)
    with read_session(ctx.db) as session:
        return [QaReviewView.of(_shown(r)) for r in session.execute(statement.limit(1000))]


def get_review(ctx: AppContext, actor: Actor, review_id: str) -> QaReviewDetailView:
    """A review with its checklist form and what the reviewer needs of the case."""
    with read_session(ctx.db) as session:
        row = session.execute(select(QA_REVIEW).where(QA_REVIEW.c.id == review_id)).first()
        if row is None or not _visible(actor, row):
            raise NotFound(f"review {review_id} not found")
        files = session.execute(
            select(DEPLOYMENT.c.files).where(DEPLOYMENT.c.id == row.deployment_id)
        ).scalar_one()
        case = session.execute(
            select(
                CASE.c.business_key,
                CASE.c.channel,
                CASE.c.process_id,
                CASE.c.outcome,
                CASE.c.data,
                CASE.c.created_at,
            ).where(CASE.c.id == row.case_id)
        ).one()
    shown = ReviewedCase(
        business_key=case.business_key,
        channel=case.channel,
        process_id=case.process_id,
        outcome=case.outcome,
        created_at=case.created_at.isoformat(),
        data=case.data,
    )
    return QaReviewDetailView.of(_shown(row), form_schema=json.loads(files[row.form]), case=shown)


def submit(
    ctx: AppContext, actor: Actor, review_id: str, answers: dict[str, Any]
) -> QaReviewDetailView:
    """The reviewer's checklist: validated against the form, scored, audited."""
    if not isinstance(answers, dict):
        raise ValidationFailed(
            "answers must be an object", errors=[{"field": "answers", "message": "an object"}]
        )
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        row = conn.execute(
            select(QA_REVIEW).where(QA_REVIEW.c.id == review_id).with_for_update()
        ).first()
        if row is None or not _visible(actor, row):
            raise NotFound(f"review {review_id} not found")
        if row.agent == actor.username:
            raise Forbidden("the agent of a case cannot review it")
        if row.reviewer != actor.username or "qa" not in actor.roles:
            raise Forbidden(f"review {review_id} is {row.reviewer}'s to do")
        if row.state != "open":
            raise Conflict(f"review {review_id} is already {row.state}")
        files = conn.execute(
            select(DEPLOYMENT.c.files).where(DEPLOYMENT.c.id == row.deployment_id)
        ).scalar_one()
        schema = json.loads(files[row.form])
        validate_form(schema, answers)
        score = score_of(schema, answers)
        conn.execute(
            update(QA_REVIEW)
            .where(and_(QA_REVIEW.c.id == review_id, QA_REVIEW.c.state == "open"))
            .values(state="done", answers=answers, score=score, done_at=now)
        )
        detail = {"review": review_id, "case_id": row.case_id, "agent": row.agent, "score": score}
        append_system(session, [NewEvent("qa_review_done", actor.username, detail=detail)], now)
        session.commit()
    return get_review(ctx, actor, review_id)


def agreement(ctx: AppContext, period: str) -> QaAgreementView:
    """Of the samples two reviewers finished: the share of checklist items they answered
    alike (per sample, then averaged) and the mean gap between their scores."""
    period_bounds(period)
    pairs: dict[str, list[Any]] = defaultdict(list)
    with read_session(ctx.db) as session:
        for row in session.execute(
            select(QA_REVIEW.c.sample_id, QA_REVIEW.c.answers, QA_REVIEW.c.score).where(
                and_(QA_REVIEW.c.period == period, QA_REVIEW.c.state == "done")
            )
        ):
            pairs[row.sample_id].append(row)
    shares, gaps = [], []
    for reviews in pairs.values():
        if len(reviews) != 2:
            continue
        a, b = (r.answers or {} for r in reviews)
        items = sorted(k for k in a.keys() | b.keys() if isinstance(a.get(k, b.get(k)), bool))
        if items:
            shares.append(sum(a.get(k) == b.get(k) for k in items) / len(items))
            gaps.append(abs(reviews[0].score - reviews[1].score))
    return QaAgreementView(
        period=period,
        double_reviewed=len(shares),
        item_agreement=round(sum(shares) / len(shares), 6) if shares else None,
        mean_score_gap=round(sum(gaps) / len(gaps), 6) if gaps else None,
    )


def quality_by_agent(
    ctx: AppContext, start: datetime, end: datetime
) -> dict[str, tuple[float, int]]:
    """Per agent: the mean score of the finished reviews of cases that ended in
    ``[start, end)``, and how many reviews."""
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(QA_REVIEW.c.agent, func.avg(QA_REVIEW.c.score), func.count())
            .where(
                and_(
                    QA_REVIEW.c.state == "done",
                    QA_REVIEW.c.case_ended_at >= start,
                    QA_REVIEW.c.case_ended_at < end,
                )
            )
            .group_by(QA_REVIEW.c.agent)
        ).all()
    return {agent: (round(float(avg), 6), int(n)) for agent, avg, n in rows}
