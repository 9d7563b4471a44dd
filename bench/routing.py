"""Routing: FIFO-by-role, skills-only and outcome-based offering on one simulated day.

About 50 telemarketing agents work a few thousand outbound retention cases arriving over
the day (more in the morning and early evening). Each agent's true retention rate
differs by segment and is unknown to the router; a call in a language the agent does not
speak retains half as often. The three policies run on the same arrivals, customers,
handling times and outcome draws (common random numbers), in one run:

- ``fifo``: FIFO by role, as before routing: the earliest due task of the agent's role,
  skills ignored;
- ``skills``: the earliest due task the agent has the skills for;
- ``outcome``: ``services.offering.choose`` (the code "next task" runs), with the rates
  learned during the day from the outcomes so far, from no history at all.

From the real process models: each case's segment is the bundle's ``case_segment``
decision table evaluated on its data (``services.segments.segment_of``), the call's due
time and required skills are ``call_customer``'s (``PT4H``, ``requiredSkills``), resolved
by ``core.skills.resolve``; the weights are the settings' defaults. The workflow engine
itself is not stepped (bench/simulate_day.py measures that).

Printed per policy: retention rate, service level (calls started before their due time),
mean waiting time, workload spread per agent (calls per agent: min / max / coefficient of
variation), skill violations; the ratio of each against FIFO; and the learning curve
(retention by hour of arrival, outcome-based against FIFO and skills-only). Target (issue
19): outcome-based retains >= 5 % more than FIFO (relative), service level within 1 point.

    python bench/routing.py [--agents 50] [--cases 3000] [--seed 19] [--history-days 0]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from retention_flow.core.config import Settings
from retention_flow.core.skills import missing, resolve
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.engine.compiler import compile_bundle
from retention_flow.services.routing.offering import Candidate, RateBook, Weights, choose
from retention_flow.services.routing.segments import segment_of

BUNDLE = Path(__file__).resolve().parents[1] / "processes" / "retention"
DAY = datetime(2026, 3, 2, tzinfo=UTC)
OPEN, CLOSE = 8, 20  # arrivals 08:00-20:00
#: arrivals per hour of the day (relative): a morning and an early-evening peak
SHAPE = {8: 6, 9: 9, 10: 10, 11: 9, 12: 7, 13: 7, 14: 8, 15: 8, 16: 9, 17: 10, 18: 9, 19: 8}
#: the segments' retention base rates (the agents differ around them)
BASE = {
    "vip_at_risk": 0.38,
    "high_value": 0.55,
    "price_sensitive": 0.30,
    "fibre": 0.45,
    "at_risk": 0.28,
    "standard": 0.50,
}
LANGUAGES = ("tr", "fr")
POLICIES = ("fifo", "skills", "outcome")
#: staggered 9-hour shifts (minutes of the day): 08:00, 09:30, 11:00, 12:30 starts
SHIFT_STARTS = (8 * 60, 9 * 60 + 30, 11 * 60, 12 * 60 + 30)
SHIFT_MINUTES = 9 * 60
CANDIDATES = 200  # as services/routing/next_task.py weighs


@dataclass
class Case:
    id: str
    arrives: datetime
    due: datetime
    segment: str
    required: list[dict[str, Any]]
    handle: timedelta
    draw: float  # retained iff draw < the agent's true rate


@dataclass
class Agent:
    name: str
    rates: dict[str, float]
    held: dict[tuple[str, str], int]
    shift: tuple[int, int] = (8 * 60, 17 * 60)  # minutes of the day: start, end


@dataclass
class Result:
    policy: str
    retained: dict[str, bool] = field(default_factory=dict)
    started: dict[str, datetime] = field(default_factory=dict)
    worked_by: dict[str, str] = field(default_factory=dict)
    violations: int = 0
    seconds: float = 0.0


def call_task(bundle: Any) -> Any:
    return next(m for (_s, e), m in bundle.user_tasks.items() if e == "call_customer")


def customer(rng: random.Random, n: int) -> dict[str, Any]:
    data = {
        "customer_id": f"C-{n:06d}",
        "monthly_revenue_cents": rng.choice((900, 1500, 2500, 3000, 3900, 4500, 5200, 6900)),
        "churn_risk": rng.choices(("low", "medium", "high"), (3, 4, 3))[0],
        "cancellation_reason": rng.choices(("none", "price", "competitor_offer"), (6, 2, 2))[0],
        "product": rng.choices(("mobile_s", "mobile_m", "mobile_l", "fixed_fibre"), (3, 4, 2, 3))[
            0
        ],
    }
    if rng.random() < 0.12:
        data["language"] = rng.choice(LANGUAGES)
    return data


def arrivals(rng: random.Random, bundle: Any, n_cases: int, day: datetime) -> list[Case]:
    meta = call_task(bundle)
    due = timedelta(hours=int(str(meta.due).removeprefix("PT").removesuffix("H")))
    hours = rng.choices(list(SHAPE), list(SHAPE.values()), k=n_cases)
    cases = []
    for n, hour in enumerate(sorted(hours)):
        at = day + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
        data = customer(rng, n)
        segment = segment_of(bundle, data) or "standard"
        cases.append(
            Case(
                id=f"{day:%m%d}-{n:05d}",
                arrives=at,
                due=at + due,
                segment=segment,
                required=resolve(list(meta.required_skills), data, segment, "outbound"),
                handle=timedelta(minutes=min(40.0, rng.lognormvariate(2.0, 0.45))),
                draw=rng.random(),
            )
        )
    return sorted(cases, key=lambda c: c.arrives)


def agents(rng: random.Random, n_agents: int) -> list[Agent]:
    out = []
    for i in range(n_agents):
        general = rng.gauss(0, 0.04)
        rates = {s: min(0.95, max(0.03, p + general + rng.gauss(0, 0.12))) for s, p in BASE.items()}
        held = {("language", lang): 3 for lang in LANGUAGES if rng.random() < 0.2}
        start = SHIFT_STARTS[i % len(SHIFT_STARTS)]
        out.append(Agent(f"agent{i:02d}", rates, held, (start, start + SHIFT_MINUTES)))
    return out


def true_rate(agent: Agent, case: Case) -> float:
    rate = agent.rates[case.segment]
    return rate * 0.5 if missing(case.required, agent.held) else rate


def offer(
    policy: str,
    agent: Agent,
    waiting: dict[str, Case],
    book: RateBook,
    weights: Weights,
    now: datetime,
    rng: random.Random,
) -> str | None:
    """The case id this agent takes now under ``policy`` (None: nothing for them)."""
    order = sorted(waiting.values(), key=lambda c: (c.due, c.id))
    if policy == "fifo":
        return order[0].id if order else None
    eligible = [c for c in order if not missing(c.required, agent.held)][:CANDIDATES]
    if policy == "skills":
        return eligible[0].id if eligible else None
    candidates = [
        Candidate(c.id, c.segment, c.due, c.arrives, case_id=c.id, specialist=bool(c.required))
        for c in eligible
    ]
    choice = choose(
        candidates, agent=agent.name, team=None, book=book, weights=weights, now=now, rng=rng
    )
    return choice.offer.task_id if choice.offer else None


def simulate(
    policy: str,
    cases: list[Case],
    staff: list[Agent],
    weights: Weights,
    seed: int,
    book: RateBook | None = None,
) -> tuple[Result, RateBook]:
    """One day under ``policy``: agents ask for work when their shift starts, when a
    call ends, on every arrival and every 5 minutes while idle; no call starts after an
    agent's shift; the outcomes feed the rate book as the calls end."""
    started_at = time.perf_counter()
    rng = random.Random(seed)
    book = book if book is not None else RateBook()
    result = Result(policy)
    midnight = cases[0].arrives.replace(hour=0, minute=0, second=0, microsecond=0)
    ends = {a.name: midnight + timedelta(minutes=a.shift[1]) for a in staff}
    events: list[tuple[datetime, int, str, str]] = []  # (time, order, kind, payload)
    serial = iter(range(10**9))
    for case in cases:
        heapq.heappush(events, (case.arrives, next(serial), "arrive", case.id))
    for a in staff:
        heapq.heappush(
            events, (midnight + timedelta(minutes=a.shift[0]), next(serial), "join", a.name)
        )
    heapq.heappush(events, (cases[0].arrives, next(serial), "tick", ""))
    last_end = max(ends.values())
    lookup = {c.id: c for c in cases}
    waiting: dict[str, Case] = {}
    outcomes: dict[str, tuple[str, bool]] = {}
    idle: list[str] = []
    while events:
        now, _n, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            waiting[payload] = lookup[payload]
        elif kind in ("join", "free"):
            if kind == "free":  # the call's outcome is known when it ends
                segment, retained = outcomes.pop(payload)
                book.add(payload, None, segment, int(retained))
            idle.append(payload)
        elif kind == "tick" and now < last_end:
            heapq.heappush(events, (now + timedelta(minutes=5), next(serial), "tick", ""))
        idle = [name for name in idle if now < ends[name]]
        if waiting and idle:
            idle = _hand_out(
                policy,
                idle,
                waiting,
                book,
                weights,
                now,
                rng,
                result,
                outcomes,
                events,
                serial,
                staff,
            )
    result.seconds = time.perf_counter() - started_at
    return result, book


def _hand_out(
    policy: str,
    idle: list[str],
    waiting: dict[str, Case],
    book: RateBook,
    weights: Weights,
    now: datetime,
    rng: random.Random,
    result: Result,
    outcomes: dict[str, tuple[str, bool]],
    events: list[tuple[datetime, int, str, str]],
    serial: Any,
    staff: list[Agent],
) -> list[str]:
    """Each idle agent asks for a task; answers those still idle."""
    by_name = {a.name: a for a in staff}
    still_idle = []
    for name in idle:
        agent = by_name[name]
        picked = offer(policy, agent, waiting, book, weights, now, rng) if waiting else None
        if picked is None:
            still_idle.append(name)
            continue
        case = waiting.pop(picked)
        result.violations += bool(missing(case.required, agent.held))
        result.started[case.id] = now
        result.worked_by[case.id] = name
        retained = case.draw < true_rate(agent, case)
        result.retained[case.id] = retained
        outcomes[name] = (case.segment, retained)
        heapq.heappush(events, (now + case.handle, next(serial), "free", name))
    return still_idle


def figures(result: Result, cases: list[Case], staff: list[Agent]) -> dict[str, float]:
    worked = [c for c in cases if c.id in result.started]
    waits = [(result.started[c.id] - c.arrives).total_seconds() / 60 for c in worked]
    per_agent = [0] * len(staff)
    index = {a.name: i for i, a in enumerate(staff)}
    for name in result.worked_by.values():
        per_agent[index[name]] += 1
    mean = statistics.fmean(per_agent)
    return {
        "retention": sum(result.retained.values()) / len(cases),
        "service_level": sum(result.started[c.id] <= c.due for c in worked) / len(cases),
        "mean_wait_min": statistics.fmean(waits) if waits else 0.0,
        "per_agent_min": min(per_agent),
        "per_agent_max": max(per_agent),
        "per_agent_cv": statistics.pstdev(per_agent) / mean if mean else 0.0,
        "violations": result.violations,
        "seconds": result.seconds,
    }


def by_hour(result: Result, cases: list[Case]) -> dict[int, float]:
    tally: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for c in cases:
        tally[c.arrives.hour][0] += int(result.retained.get(c.id, False))
        tally[c.arrives.hour][1] += 1
    return {h: r / n for h, (r, n) in sorted(tally.items())}


def run(
    n_agents: int = 50, n_cases: int = 3000, seed: int = 19, history_days: int = 0
) -> dict[str, Any]:
    """The three policies on one day (after ``history_days`` worked FIFO, whose outcomes
    the outcome-based router may learn from, as it would from the audit trail)."""
    rng = random.Random(seed)
    bundle = compile_bundle(load_bundle_path(BUNDLE))
    weights = Weights.from_settings(Settings())
    staff = agents(rng, n_agents)
    book = RateBook()
    for d in range(history_days, 0, -1):
        past = arrivals(rng, bundle, n_cases, DAY - timedelta(days=d))
        simulate("fifo", past, staff, weights, seed + d, book)
    cases = arrivals(rng, bundle, n_cases, DAY)
    results = {}
    for policy in POLICIES:
        learned = RateBook(dict(book.agent), dict(book.team)) if policy == "outcome" else None
        results[policy], _book = simulate(policy, cases, staff, weights, seed, learned)
    return {
        "figures": {p: figures(r, cases, staff) for p, r in results.items()},
        "hours": {p: by_hour(r, cases) for p, r in results.items()},
        "cases": cases,
        "results": results,
        "staff": staff,
        "weights": weights,
    }


def report(out: dict[str, Any], args: argparse.Namespace) -> None:
    figs, hours, w = out["figures"], out["hours"], out["weights"]
    print(
        f"routing bench: {args.agents} agents, {args.cases} cases, seed {args.seed}, "
        f"history {args.history_days} day(s); weights: at risk {w.at_risk}, prior "
        f"{w.prior_strength}, exploration {w.exploration}, hold below {w.hold_below}"
    )
    print(
        f"{'policy':<8} {'retention':>9} {'ratio':>6} {'service':>8} {'wait min':>8} "
        f"{'calls/agent min-max':>19} {'cv':>5} {'viol.':>5} {'s':>5}"
    )
    base = figs["fifo"]
    for policy, f in figs.items():
        print(
            f"{policy:<8} {f['retention']:>9.4f} {f['retention'] / base['retention']:>6.3f} "
            f"{f['service_level']:>8.4f} {f['mean_wait_min']:>8.1f} "
            f"{f['per_agent_min']:>9}-{f['per_agent_max']:<9} {f['per_agent_cv']:>5.2f} "
            f"{f['violations']:>5} {f['seconds']:>5.1f}"
        )
    gain = figs["outcome"]["retention"] / base["retention"] - 1
    sl = (figs["outcome"]["service_level"] - base["service_level"]) * 100
    print(f"outcome vs fifo: retention {gain:+.2%} relative, service level {sl:+.2f} points")
    over_skills = figs["outcome"]["retention"] / figs["skills"]["retention"] - 1
    print(f"outcome vs skills-only: retention {over_skills:+.2%} relative")
    print("learning curve (retention by hour of arrival; uplift of outcome-based):")
    for hour, rate in hours["fifo"].items():
        ours, skills = hours["outcome"][hour], hours["skills"][hour]
        print(
            f"  {hour:02d}:00  fifo {rate:.3f}  skills {skills:.3f}  outcome {ours:.3f}  "
            f"vs fifo {ours / rate - 1:+.1%}  vs skills {ours / skills - 1:+.1%}"
        )
    met = gain >= 0.05 and abs(sl) <= 1.0
    print(f"target (>= +5 % retained, service level within 1 point): {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--history-days", type=int, default=0)
    args = parser.parse_args()
    report(run(args.agents, args.cases, args.seed, args.history_days), args)


if __name__ == "__main__":
    main()
