""" "Next task": the task an agent should do now, chosen by ``services/routing/offering.py`` among
the ready work of their roles that their skills allow, and recorded (``offer_decision``:
inputs, score, rule) so a team lead can review who got which work and why.

The agent's own claimed task comes first (no decision: it is theirs already). The API
claims the offered task for the agent; the task page only opens it (opening starts the
work, ``claims.open_for_work``). A task claimed by a colleague meanwhile is skipped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from retention_flow.core.errors import Conflict
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import OFFER_DECISION, USER
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.offering import Candidate, Choice, Offer, Weights, choose
from retention_flow.services.routing.rates import learned_rates
from retention_flow.services.routing.views import NextTask, OfferNote, OfferWhy
from retention_flow.services.tasks import claims
from retention_flow.services.tasks.queue_pages import (
    QueueFilter,
    filtered_page,
    list_queue,
    queue_page,
)

#: how many of the earliest-due ready tasks are weighed per offer
CANDIDATES = 200
_CLAIM_TRIES = 3


def _when(text: str | None) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _candidates(ctx: AppContext, actor: Actor, flt: QueueFilter | None) -> list[TaskView]:
    flt = flt or QueueFilter()
    if flt.process_id or flt.due or flt.search:
        items, _total = filtered_page(ctx, actor, flt, limit=CANDIDATES)
    else:
        items, _none = queue_page(
            ctx, actor, queue="available", role=flt.role, limit=CANDIDATES, with_count=False
        )
    return items


def decide(
    ctx: AppContext,
    actor: Actor,
    flt: QueueFilter | None = None,
    skip: frozenset[str] = frozenset(),
) -> tuple[Choice, dict[str, TaskView]]:
    """The offering decision for ``actor`` now (nothing recorded) and the items weighed."""
    items = {i.id: i for i in _candidates(ctx, actor, flt) if i.id not in skip}
    candidates = [
        Candidate(
            task_id=i.id,
            segment=i.segment,
            due_at=_when(i.due_at),
            created_at=_when(i.created_at),
            priority=int(i.priority),
            case_id=i.case_id,
            not_offered=i.not_offered,
            specialist=bool(i.required_skills),
        )
        for i in items.values()
    ]
    with read_session(ctx.db) as session:
        team = session.execute(
            select(USER.c.team).where(USER.c.username == actor.username)
        ).scalar_one_or_none()
    choice = choose(
        candidates,
        agent=actor.username,
        team=team,
        book=learned_rates(ctx),
        weights=Weights.from_settings(ctx.settings),
        now=ctx.now(),
        rng=ctx.routing_rng,
    )
    return choice, items


def record(ctx: AppContext, actor: Actor, offer: Offer) -> None:
    with write_session(ctx.db) as session:
        session.execute(
            insert(OFFER_DECISION).values(
                at=ctx.now(),
                username=actor.username,
                task_id=offer.task_id,
                case_id=offer.case_id,
                segment=offer.segment,
                rule=offer.rule,
                score=offer.score,
                reason=offer.reason[:400],
                candidates=offer.candidates,
                inputs=offer.inputs,
            )
        )
        session.commit()


def _public(offer: Offer) -> OfferWhy:
    return OfferWhy(rule=offer.rule, score=offer.score, reason=offer.reason)


def next_task(
    ctx: AppContext,
    actor: Actor,
    *,
    claim: bool,
    flt: QueueFilter | None = None,
    after: str | None = None,
) -> NextTask:
    """The task (None when there is nothing for the agent
    now), why it was offered (None for their own claimed task), and how many tasks are
    held for better-matched colleagues."""
    mine = [t for t in list_queue(ctx, actor, queue="mine", limit=50) if t.id != after]
    if flt is not None and (flt.role or flt.process_id):
        mine = [
            t for t in mine if flt.role in (None, t.role) and flt.process_id in (None, t.process_id)
        ]
    if mine:
        return NextTask(task=mine[0], offer=None, held=0)
    skip = frozenset({after} if after else ())
    for _try in range(_CLAIM_TRIES):
        choice, items = decide(ctx, actor, flt, skip)
        if choice.offer is None:
            return NextTask(task=None, offer=None, held=len(choice.held))
        record(ctx, actor, choice.offer)
        if not claim:
            task = items[choice.offer.task_id]
            return NextTask(task=task, offer=_public(choice.offer), held=len(choice.held))
        try:
            task = claims.claim(ctx, actor, choice.offer.task_id)
        except Conflict:  # a colleague took it meanwhile: weigh the rest again
            skip |= {choice.offer.task_id}
            continue
        return NextTask(task=task, offer=_public(choice.offer), held=len(choice.held))
    return NextTask(task=None, offer=None, held=0)


def offer_of(ctx: AppContext, username: str, task_id: str) -> OfferNote | None:
    """The latest offer of this task to this agent (the task page's "why this task")."""
    with read_session(ctx.db) as session:
        row = session.execute(
            select(OFFER_DECISION.c.rule, OFFER_DECISION.c.reason, OFFER_DECISION.c.at)
            .where(OFFER_DECISION.c.task_id == task_id)
            .where(OFFER_DECISION.c.username == username)
            .order_by(OFFER_DECISION.c.id.desc())
            .limit(1)
        ).first()
    return None if row is None else OfferNote(rule=row.rule, reason=row.reason)
