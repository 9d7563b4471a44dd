"""Lead allocation: give each lead to at most one eligible partner, no partner over its
capacity, maximising expected retained value minus cost.

Pure: no database, no settings. The model, for leads ``l`` and partners ``p``::

    maximise   sum  x[l,p] * (value[l] * quality[p] - cost[p])
    subject to sum_p x[l,p] <= 1                    every lead at most once
               sum_l x[l,p] <= remaining[p]         capacity
               sum_l x[l,p] >= min_leads[p]         fairness (minimum share of the batch)
               x[l,p] in {0, 1}, only for eligible pairs

solved by HiGHS through ``scipy.optimize.milp``. The constraint matrix is that of a
bipartite b-matching (totally unimodular), so the LP relaxation is usually integral and
gives the optimality bound the result reports. If SciPy is missing, the solver fails or
runs out of time, the greedy rule (best score first) answers instead and the result says
so (``solver == "greedy"``, ``fallback_reason``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Lead:
    id: str
    product: str
    region: str
    contract_age_months: int
    #: value of keeping the customer (e.g. a year's revenue), cents
    value_cents: int
    #: partners the rules (DMN) allow; None = no rule given, the partner table decides
    eligible: frozenset[str] | None = None


@dataclass(frozen=True)
class PartnerOffer:
    """A partner as the solver sees it: restrictions, remaining capacity, prices."""

    id: str
    capacity: int
    cost_per_lead_cents: int
    quality: float
    products: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    min_contract_age_months: int | None = None
    max_contract_age_months: int | None = None
    min_share: float = 0.0

    def refusal(self, lead: Lead) -> str | None:
        """Why this partner may not take the lead (None: it may)."""
        if lead.eligible is not None and self.id not in lead.eligible:
            return "not eligible by the partner rules"
        if self.products and lead.product not in self.products:
            return f"product {lead.product} not served"
        if self.regions and lead.region not in self.regions:
            return f"region {lead.region} not served"
        age = lead.contract_age_months
        if self.min_contract_age_months is not None and age < self.min_contract_age_months:
            return f"contract age {age} < {self.min_contract_age_months} months"
        if self.max_contract_age_months is not None and age > self.max_contract_age_months:
            return f"contract age {age} > {self.max_contract_age_months} months"
        return None

    def score(self, lead: Lead) -> float:
        return lead.value_cents * self.quality - self.cost_per_lead_cents


@dataclass
class AllocationResult:
    assignments: dict[str, str]  # lead id -> partner id
    unassigned: dict[str, str]  # lead id -> reason
    objective_cents: float
    solver: str  # highs_milp | greedy | empty
    fallback_reason: str | None = None
    lp_bound_cents: float | None = None
    #: time to find the allocation (the LP bound's own solve not included)
    solve_seconds: float = 0.0
    bound_seconds: float = 0.0
    per_partner: dict[str, int] = field(default_factory=dict)
    min_leads: dict[str, int] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative distance of the objective from the LP bound (0 = proven optimal)."""
        if self.lp_bound_cents is None:
            return None
        if abs(self.lp_bound_cents) < 1e-9:
            return 0.0
        return max(0.0, (self.lp_bound_cents - self.objective_cents) / abs(self.lp_bound_cents))

    def as_dict(self) -> dict[str, Any]:
        return {
            "solver": self.solver,
            "fallback_reason": self.fallback_reason,
            "objective_cents": round(self.objective_cents),
            "lp_bound_cents": None if self.lp_bound_cents is None else round(self.lp_bound_cents),
            "gap": self.gap,
            "solve_seconds": round(self.solve_seconds, 4),
            "assignments": self.assignments,
            "unassigned": self.unassigned,
            "per_partner": self.per_partner,
            "min_leads": self.min_leads,
        }


@dataclass
class _Model:
    pairs: list[tuple[int, int]]  # (lead index, partner index)
    scores: list[float]
    unassignable: dict[str, str]
    min_leads: list[int]


def _build(leads: Sequence[Lead], partners: Sequence[PartnerOffer]) -> _Model:
    pairs: list[tuple[int, int]] = []
    scores: list[float] = []
    unassignable: dict[str, str] = {}
    eligible_count = [0] * len(partners)
    fair = [p.min_share > 0 for p in partners]
    for li, lead in enumerate(leads):
        refusals: list[str] = []
        found = False
        for pi, partner in enumerate(partners):
            why = partner.refusal(lead)
            if why is None and partner.capacity <= 0:
                why = "no capacity left"
            if why is not None:
                refusals.append(f"{partner.id}: {why}")
                continue
            score = partner.score(lead)
            if score <= 0 and not fair[pi]:
                refusals.append(f"{partner.id}: not profitable ({score:.0f} cents)")
                continue
            found = True
            eligible_count[pi] += 1
            pairs.append((li, pi))
            scores.append(score)
        if not found:
            reason = "; ".join(refusals) if refusals else "no partners"
            unassignable[lead.id] = reason
    min_leads = [
        min(math.floor(p.min_share * len(leads)), p.capacity, eligible_count[pi])
        if p.min_share > 0
        else 0
        for pi, p in enumerate(partners)
    ]
    return _Model(pairs, scores, unassignable, min_leads)


def allocate(
    leads: Sequence[Lead],
    partners: Sequence[PartnerOffer],
    *,
    method: str = "milp",
    time_limit: float = 10.0,
    with_bound: bool = False,
) -> AllocationResult:
    """Allocate ``leads`` to ``partners``. ``method``: ``milp`` (greedy fallback) or
    ``greedy``. ``with_bound`` also solves the LP relaxation for the optimality gap."""
    started = time.perf_counter()
    seen: set[str] = set()
    for lead in leads:
        if lead.id in seen:
            raise ValueError(f"lead {lead.id} appears twice")
        seen.add(lead.id)
    _BOUND_SECONDS.seconds = 0.0
    model = _build(leads, partners)
    if not model.pairs:
        return _result(leads, partners, model, [], "empty", None, 0.0, started)
    fallback: str | None = None
    chosen: list[int] | None = None
    bound: float | None = None
    if method == "milp":
        try:
            chosen, bound = _solve_milp(leads, partners, model, time_limit, with_bound)
        except _SolverUnavailable as exc:
            fallback = str(exc)
    elif method != "greedy":
        raise ValueError(f"unknown allocation method '{method}'")
    if chosen is None:
        chosen = _greedy(leads, partners, model)
        if fallback is None and method == "milp":
            fallback = "solver gave no solution"
        solver = "greedy"
    else:
        solver = "highs_milp"
    return _result(leads, partners, model, chosen, solver, fallback, bound, started)


class _SolverUnavailable(Exception):
    pass


class _BoundTime(threading.local):
    seconds = 0.0


_BOUND_SECONDS = _BoundTime()


def _solve_milp(
    leads: Sequence[Lead],
    partners: Sequence[PartnerOffer],
    model: _Model,
    time_limit: float,
    with_bound: bool,
) -> tuple[list[int] | None, float | None]:
    try:
        import numpy as np
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import csr_array
    except ImportError as exc:  # pragma: no cover - scipy is a dependency
        raise _SolverUnavailable(f"scipy is not installed: {exc}") from exc
    n = len(model.pairs)
    lead_idx = np.fromiter((p[0] for p in model.pairs), dtype=np.int64, count=n)
    part_idx = np.fromiter((p[1] for p in model.pairs), dtype=np.int64, count=n)
    cols = np.arange(n)
    ones = np.ones(n)
    a_leads = csr_array((ones, (lead_idx, cols)), shape=(len(leads), n))
    a_parts = csr_array((ones, (part_idx, cols)), shape=(len(partners), n))
    caps = np.array([max(p.capacity, 0) for p in partners], dtype=float)
    mins = np.array(model.min_leads, dtype=float)
    constraints = [
        LinearConstraint(a_leads, -np.inf, 1.0),
        LinearConstraint(a_parts, mins, caps),
    ]
    c = -np.asarray(model.scores, dtype=float)
    bounds = Bounds(0.0, 1.0)
    # HiGHS's MILP presolve spends longer than the whole solve on this bipartite
    # structure (10,000 x 25: >30 s with it, ~3 s without), so it is switched off.
    options = {"time_limit": time_limit, "mip_rel_gap": 1e-4, "presolve": False}
    res = milp(c, integrality=np.ones(n), bounds=bounds, constraints=constraints, options=options)
    if res.x is None:
        raise _SolverUnavailable(f"HiGHS: {res.message}")
    bound: float | None = None
    if with_bound:
        bound_started = time.perf_counter()
        lp = milp(
            c,
            integrality=np.zeros(n),
            bounds=bounds,
            constraints=constraints,
            options={"presolve": False},
        )
        if lp.x is not None:
            bound = float(-lp.fun)
        _BOUND_SECONDS.seconds = time.perf_counter() - bound_started
    elif res.status == 0:
        mip_bound = getattr(res, "mip_dual_bound", None)
        bound = float(-mip_bound) if mip_bound is not None else None
    return [int(i) for i in np.flatnonzero(res.x > 0.5)], bound


def _greedy(leads: Sequence[Lead], partners: Sequence[PartnerOffer], model: _Model) -> list[int]:
    """Minimum shares first (best leads for each), then every pair by score, best first."""
    left = [max(p.capacity, 0) for p in partners]
    taken: set[int] = set()
    chosen: list[int] = []
    order = sorted(range(len(model.pairs)), key=lambda k: -model.scores[k])

    def take(k: int) -> None:
        li, pi = model.pairs[k]
        taken.add(li)
        left[pi] -= 1
        chosen.append(k)

    need = list(model.min_leads)
    for k in order:
        li, pi = model.pairs[k]
        if need[pi] > 0 and li not in taken and left[pi] > 0:
            take(k)
            need[pi] -= 1
    for k in order:
        li, pi = model.pairs[k]
        if model.scores[k] > 0 and li not in taken and left[pi] > 0:
            take(k)
    return chosen


def _result(
    leads: Sequence[Lead],
    partners: Sequence[PartnerOffer],
    model: _Model,
    chosen: list[int],
    solver: str,
    fallback: str | None,
    bound: float | None,
    started: float,
) -> AllocationResult:
    assignments: dict[str, str] = {}
    per_partner = {p.id: 0 for p in partners}
    objective = 0.0
    for k in chosen:
        li, pi = model.pairs[k]
        assignments[leads[li].id] = partners[pi].id
        per_partner[partners[pi].id] += 1
        objective += model.scores[k]
    unassigned = dict(model.unassignable)
    for lead in leads:
        if lead.id not in assignments and lead.id not in unassigned:
            unassigned[lead.id] = "eligible partners are at capacity (or the lead earns less there)"
    return AllocationResult(
        assignments=assignments,
        unassigned=unassigned,
        objective_cents=objective,
        solver=solver,
        fallback_reason=fallback,
        lp_bound_cents=bound,
        solve_seconds=time.perf_counter() - started - _BOUND_SECONDS.seconds,
        bound_seconds=_BOUND_SECONDS.seconds,
        per_partner=per_partner,
        min_leads={p.id: m for p, m in zip(partners, model.min_leads, strict=True) if m},
    )


def check(
    leads: Sequence[Lead], partners: Sequence[PartnerOffer], result: AllocationResult
) -> list[str]:
    """Every constraint the result breaks (empty when it holds): for tests and audits."""
    problems: list[str] = []
    by_id = {p.id: p for p in partners}
    lead_ids = {lead.id for lead in leads}
    counts: dict[str, int] = dict.fromkeys(by_id, 0)
    for lead in leads:
        partner_id = result.assignments.get(lead.id)
        if partner_id is None:
            continue
        partner = by_id.get(partner_id)
        if partner is None:
            problems.append(f"{lead.id}: unknown partner {partner_id}")
            continue
        why = partner.refusal(lead)
        if why:
            problems.append(f"{lead.id} -> {partner_id}: {why}")
        counts[partner_id] += 1
    for pid, count in counts.items():
        if count > by_id[pid].capacity:
            problems.append(f"{pid}: {count} leads over capacity {by_id[pid].capacity}")
        if result.solver == "highs_milp" and count < result.min_leads.get(pid, 0):
            problems.append(f"{pid}: {count} leads under its minimum {result.min_leads[pid]}")
    extra = set(result.assignments) - lead_ids
    if extra:
        problems.append(f"unknown leads assigned: {sorted(extra)[:5]}")
    both = set(result.assignments) & set(result.unassigned)
    if both:
        problems.append(f"leads both assigned and unassigned: {sorted(both)[:5]}")
    return problems
