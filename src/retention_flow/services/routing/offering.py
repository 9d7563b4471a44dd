"""Which task to offer an agent who asks for the next one: pure, no database, so the
service (``services/routing/next_task.py``) and the simulation (``bench/routing.py``) run the
same code.

Among the tasks the agent may take (their roles, their skills):

1. **SLA urgency first**: a task due within ``at_risk`` (or overdue) wins, the earliest
   due first: no learned figure may let a task breach its service level.
2. **Exploration**: once outcomes have been learned, a small share of offers
   (``exploration``) is picked at random from the rest, so every agent keeps producing
   outcomes in every segment (an estimate that is never tried is never corrected).
   Before anything is learned every agent is the team's average and the order is FIFO,
   which spreads the segments by itself.
3. **Expected outcome**: otherwise the task whose segment this agent does best *compared
   with the team*: ``score = p_agent - p_team + wait_weight x hours waited``. The
   agent's rate is shrunk towards the team's (a beta prior worth ``prior_strength``
   cases: ``(retained + k x p_team) / (cases + k)``), so an agent with little history is
   taken as average: neither starved nor trusted blindly. Ranking by the difference
   rather than by ``p_agent`` alone is what raises the total: every task is worked by
   someone, so what routing can change is *who*, and each agent should take the work
   where they beat their colleagues by most.
   A task that needs skills scores ``specialist_bonus`` more: fewer colleagues can take
   it, so whoever can should, before the work anyone can do.
4. **Hold**: a task for which this agent is expected below ``hold_below`` of the team's
   rate is held for better-matched colleagues until it comes at risk (it is then offered
   to anyone by rule 1); never a task that needs skills.

Equal scores fall back to the queue's order (due time, priority). ``Weights.policy``
``fifo``/``skills`` offer in due order (the pre-routing queue).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ANY_TEAM = "*"
NO_SEGMENT = "-"


@dataclass(frozen=True)
class Weights:
    policy: str = "outcome"
    at_risk: timedelta = timedelta(minutes=30)
    prior_strength: float = 20.0
    exploration: float = 0.05
    hold_below: float = 0.9
    wait_weight: float = 0.01
    specialist_bonus: float = 0.1

    @classmethod
    def from_settings(cls, settings: Any) -> Weights:
        return cls(
            policy=settings.routing_policy,
            at_risk=timedelta(minutes=settings.routing_at_risk_minutes),
            prior_strength=settings.routing_prior_strength,
            exploration=settings.routing_exploration,
            hold_below=settings.routing_hold_below,
            wait_weight=settings.routing_wait_weight,
            specialist_bonus=settings.routing_specialist_bonus,
        )


@dataclass(frozen=True)
class Candidate:
    task_id: str
    segment: str | None
    due_at: datetime
    created_at: datetime
    priority: int = 50
    case_id: str = ""
    #: why the agent may not take it (skills); such a task is never offered
    not_offered: str | None = None
    #: the task needs skills (fewer colleagues can take it)
    specialist: bool = False


@dataclass(frozen=True)
class Expectation:
    p_agent: float
    p_team: float
    cases: int
    retained: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "p_agent": round(self.p_agent, 4),
            "p_team": round(self.p_team, 4),
            "agent_cases": self.cases,
            "agent_retained": self.retained,
        }


@dataclass
class RateBook:
    """Retained / worked per (agent, segment) and per (team, segment): the outcomes of
    cases the agent worked (learned from the audit trail, ``services/routing/rates.py``)."""

    agent: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    team: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(
        self, agent: str, team: str | None, segment: str | None, retained: int, cases: int = 1
    ) -> None:
        """Credit ``cases`` outcomes (``retained`` of them retained; a bool is one case)."""
        seg = segment or NO_SEGMENT
        for book, key in (
            (self.agent, (agent, seg)),
            (self.team, (team or ANY_TEAM, seg)),
            *([(self.team, (ANY_TEAM, seg))] if team not in (None, ANY_TEAM) else []),
        ):
            tally = book.setdefault(key, [0, 0])
            tally[0] += int(retained)
            tally[1] += cases

    def team_rate(self, team: str | None, segment: str | None) -> float:
        seg = segment or NO_SEGMENT
        retained, cases = self.team.get((team or ANY_TEAM, seg)) or self.team.get(
            (ANY_TEAM, seg), [0, 0]
        )
        return (retained + 1) / (cases + 2)  # Laplace: 0.5 for a segment never seen

    def expect(
        self, agent: str, team: str | None, segment: str | None, strength: float
    ) -> Expectation:
        p_team = self.team_rate(team, segment)
        retained, cases = self.agent.get((agent, segment or NO_SEGMENT), [0, 0])
        if cases + strength <= 0:
            return Expectation(0.0, p_team, 0, 0)
        p_agent = (retained + strength * p_team) / (cases + strength)
        return Expectation(p_agent, p_team, cases, retained)


@dataclass(frozen=True)
class Offer:
    task_id: str
    rule: str  # sla | explore | outcome | fifo
    score: float
    reason: str
    inputs: dict[str, Any]
    candidates: int
    segment: str | None = None
    case_id: str = ""


@dataclass(frozen=True)
class Choice:
    """The offer (None: nothing for this agent now) and the tasks held from them."""

    offer: Offer | None
    held: dict[str, str] = field(default_factory=dict)


def _fifo_key(c: Candidate) -> tuple[datetime, int, str]:
    return (c.due_at, -c.priority, c.task_id)


def _span(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.0f} h" if minutes < 48 * 60 else f"{minutes / 1440:.0f} days"


def _pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def _offer(c: Candidate, rule: str, score: float, reason: str, n: int, **inputs: Any) -> Offer:
    return Offer(c.task_id, rule, round(score, 6), reason, inputs, n, c.segment, c.case_id)


def choose(
    candidates: Sequence[Candidate],
    *,
    agent: str,
    team: str | None,
    book: RateBook,
    weights: Weights,
    now: datetime,
    rng: random.Random,
) -> Choice:
    """The task to offer ``agent`` now (see the module's docstring for the rules)."""
    eligible = [c for c in candidates if c.not_offered is None]
    n = len(eligible)
    if not eligible:
        return Choice(None)
    if weights.policy != "outcome":
        first = min(eligible, key=_fifo_key)
        return Choice(_offer(first, "fifo", 0.0, "first in the queue by due time", n))
    urgent = [c for c in eligible if c.due_at - now <= weights.at_risk]
    if urgent:
        first = min(urgent, key=_fifo_key)
        minutes = (first.due_at - now).total_seconds() / 60
        when = f"due in {_span(minutes)}" if minutes > 0 else f"overdue by {_span(-minutes)}"
        reason = f"at risk of missing its service level ({when}): urgent work comes first"
        return Choice(_offer(first, "sla", -minutes, reason, n, due_in_minutes=round(minutes, 1)))
    if book.agent and weights.exploration > 0 and rng.random() < weights.exploration:
        picked = rng.choice(sorted(eligible, key=_fifo_key))
        reason = "picked at random (a small share of offers keeps every agent's rates learning)"
        return Choice(_offer(picked, "explore", 0.0, reason, n))
    return _best_match(eligible, agent, team, book, weights, now)


def _best_match(
    eligible: Iterable[Candidate],
    agent: str,
    team: str | None,
    book: RateBook,
    weights: Weights,
    now: datetime,
) -> Choice:
    held: dict[str, str] = {}
    best: tuple[float, Candidate, Expectation] | None = None
    ranked: list[tuple[float, str]] = []
    for c in sorted(eligible, key=_fifo_key):
        e = book.expect(agent, team, c.segment, weights.prior_strength)
        hold = weights.hold_below > 0 and not c.specialist
        if hold and e.p_agent < weights.hold_below * e.p_team:
            held[c.task_id] = (
                f"held for better-matched colleagues until it is at risk: you are expected "
                f"to retain {_pct(e.p_agent)} in {c.segment or 'this segment'}, the team "
                f"{_pct(e.p_team)}"
            )
            continue
        waited = max(0.0, (now - c.created_at).total_seconds() / 3600)
        score = e.p_agent - e.p_team + weights.wait_weight * waited
        score += weights.specialist_bonus if c.specialist else 0.0
        ranked.append((score, c.task_id))
        if best is None or score > best[0]:
            best = (score, c, e)
    if best is None:
        return Choice(None, held)
    score, c, e = best
    seg = c.segment or "this segment"
    if e.cases:
        basis = f"{e.retained} of {e.cases} retained, shrunk towards the team's rate"
    else:
        basis = "no history yet, so the team's rate"
    reason = (
        f"best match: you are expected to retain {_pct(e.p_agent)} in {seg} "
        f"(team {_pct(e.p_team)}; {basis})"
    )
    alternatives = sorted(ranked, reverse=True)[1:4]
    return Choice(
        _offer(
            c,
            "outcome",
            score,
            reason,
            len(ranked),
            **e.as_dict(),
            held=len(held),
            runners_up=[{"task_id": t, "score": round(s, 4)} for s, t in alternatives],
        ),
        held,
    )
