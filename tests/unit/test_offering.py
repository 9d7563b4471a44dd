"""The offering rules on their own (``services/routing/offering.py``): over many random queues a
task the agent may not take is never offered, an at-risk task always wins, and the
shrinkage turns "no history" into the team's rate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from retention_flow.services.routing.offering import Candidate, RateBook, Weights, choose

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
SEGMENTS = ("fibre", "standard", "vip_at_risk")


def _queue(rng: random.Random, n: int) -> list[Candidate]:
    return [
        Candidate(
            task_id=f"t{i:03d}",
            segment=rng.choice(SEGMENTS),
            due_at=NOW + timedelta(minutes=rng.randint(-30, 240)),
            created_at=NOW - timedelta(minutes=rng.randint(0, 200)),
            not_offered="needs the skill language fr" if rng.random() < 0.3 else None,
            specialist=rng.random() < 0.2,
        )
        for i in range(n)
    ]


def _book(rng: random.Random) -> RateBook:
    book = RateBook()
    for agent in ("a", "b", "c"):
        for segment in SEGMENTS:
            cases = rng.randint(0, 30)
            book.add(agent, None, segment, rng.randint(0, cases), cases)
    return book


def test_never_a_task_the_agent_may_not_take_and_at_risk_always_first() -> None:
    rng = random.Random(19)
    weights = Weights(exploration=0.2)
    for _ in range(500):
        queue = _queue(rng, rng.randint(1, 25))
        choice = choose(
            queue, agent="a", team=None, book=_book(rng), weights=weights, now=NOW, rng=rng
        )
        allowed = {c.task_id for c in queue if c.not_offered is None}
        urgent = [c for c in queue if c.not_offered is None and c.due_at - NOW <= weights.at_risk]
        if choice.offer is None:
            assert not urgent
            continue
        assert choice.offer.task_id in allowed
        if urgent:
            first = min(urgent, key=lambda c: (c.due_at, -c.priority, c.task_id))
            assert (choice.offer.rule, choice.offer.task_id) == ("sla", first.task_id)


def test_no_history_is_the_teams_rate_and_without_a_prior_it_is_nothing() -> None:
    book = RateBook()
    book.add("old", None, "fibre", 30, 40)
    shrunk = book.expect("new", None, "fibre", strength=20)
    assert shrunk.p_agent == shrunk.p_team == (30 + 1) / (40 + 2)
    assert book.expect("new", None, "fibre", strength=0).p_agent == 0.0
    task = Candidate("t1", "fibre", NOW + timedelta(hours=3), NOW)
    # no exploration here: this is about the shrinkage (a random pick would hide it)
    fed = choose(
        [task],
        agent="new",
        team=None,
        book=book,
        weights=Weights(exploration=0),
        now=NOW,
        rng=random.Random(1),
    )
    assert fed.offer is not None and fed.offer.rule == "outcome"
    starved = choose(
        [task],
        agent="new",
        team=None,
        book=book,
        weights=Weights(prior_strength=0, exploration=0),
        now=NOW,
        rng=random.Random(1),
    )
    assert starved.offer is None and "held for better-matched colleagues" in starved.held["t1"]
