"""Lead allocation: HiGHS MILP (scipy.optimize.milp) against the greedy rule, in one run.

Synthetic instances: ``--leads`` leads x ``--partners`` partners with realistic
restrictions (products, 1-3 of 4 regions or nationwide, contract-age ranges), capacities
that together cover ~70% of the leads, cost per lead 5-30 EUR, quality 0.15-0.45, lead
value = 12 months of revenue. Per instance: solve time, objective vs greedy (ratio), LP
relaxation bound and gap; optionally with minimum shares (``--min-share``) for a third of
the partners. Targets (issue 6): solve < 10 s, objective >= greedy on every instance,
gap <= 1 %.

    python bench/allocation.py [--leads 10000] [--partners 25] [--instances 3]
                               [--min-share 0.02]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from retention_flow.services.partners.allocation import Lead, PartnerOffer, allocate, check

PRODUCTS = ("mobile_s", "mobile_m", "mobile_l", "fixed_fibre")
MOBILE = frozenset(PRODUCTS[:3])
REGIONS = ("north", "south", "east", "west")
REVENUE = {"mobile_s": 1500, "mobile_m": 3000, "mobile_l": 5000, "fixed_fibre": 4000}


def instance(
    seed: int, n_leads: int, n_partners: int, min_share: float = 0.0
) -> tuple[list[Lead], list[PartnerOffer]]:
    rng = random.Random(seed)
    leads = []
    for i in range(n_leads):
        product = rng.choice(PRODUCTS)
        leads.append(
            Lead(
                id=f"L{i:06d}",
                product=product,
                region=rng.choice(REGIONS),
                contract_age_months=rng.randint(1, 48),
                value_cents=12 * (REVENUE[product] + rng.randint(-500, 1500)),
            )
        )
    partners = []
    total_capacity = int(0.7 * n_leads)
    weights = [rng.uniform(0.5, 1.5) for _ in range(n_partners)]
    for j in range(n_partners):
        kind = rng.random()
        products = MOBILE if kind < 0.4 else (frozenset({"fixed_fibre"}) if kind < 0.5 else None)
        regions = (
            frozenset()
            if rng.random() < 0.25
            else frozenset(rng.sample(REGIONS, rng.randint(1, 3)))
        )
        low = rng.choice((None, None, 6, 12, 24))
        high = rng.choice((None, None, None, 36))
        partners.append(
            PartnerOffer(
                id=f"p{j:02d}",
                capacity=int(total_capacity * weights[j] / sum(weights)),
                cost_per_lead_cents=rng.randint(500, 3000),
                quality=round(rng.uniform(0.15, 0.45), 3),
                products=products or frozenset(),
                regions=regions,
                min_contract_age_months=low,
                max_contract_age_months=high,
                min_share=min_share if j % 3 == 0 else 0.0,
            )
        )
    return leads, partners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=25)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--min-share", type=float, default=0.02)
    args = parser.parse_args()
    print(f"{args.leads} leads x {args.partners} partners, {args.instances} instances each")
    print(
        f"{'instance':<16}{'pairs':>8}{'milp s':>8}{'lp s':>6}{'greedy s':>9}{'milp obj EUR':>14}"
        f"{'greedy EUR':>12}{'ratio':>8}{'gap':>9}{'assigned':>9}{'no partner':>11}"
    )
    ok = True
    for share in (0.0, args.min_share) if args.min_share else (0.0,):
        for seed in range(args.instances):
            leads, partners = instance(seed, args.leads, args.partners, share)
            milp = allocate(leads, partners, with_bound=True)
            t_milp = milp.solve_seconds  # build + HiGHS MILP, without the LP bound's solve
            t0 = time.perf_counter()
            greedy = allocate(leads, partners, method="greedy")
            t_greedy = time.perf_counter() - t0
            problems = check(leads, partners, milp)
            ratio = milp.objective_cents / greedy.objective_cents
            gap = milp.gap if milp.gap is not None else float("nan")
            pairs = sum(1 for lead in leads for p in partners if p.refusal(lead) is None)
            no_partner = sum(1 for r in milp.unassigned.values() if "capacity" not in r)
            name = f"seed {seed}" + (f" min {share:.0%}" if share else "")
            print(
                f"{name:<16}{pairs:>8}{t_milp:>8.2f}{milp.bound_seconds:>6.1f}{t_greedy:>9.2f}"
                f"{milp.objective_cents / 100:>14,.0f}{greedy.objective_cents / 100:>12,.0f}"
                f"{ratio:>8.4f}{gap:>9.2e}{len(milp.assignments):>9}{no_partner:>11}"
                + (
                    f"  solver={milp.solver} ({milp.fallback_reason})"
                    if milp.fallback_reason
                    else ""
                )
            )
            passed = (
                not problems
                and milp.solver == "highs_milp"
                and t_milp < 10
                and milp.objective_cents >= greedy.objective_cents - 1e-6
                and gap <= 0.01
            )
            if problems:
                print("   constraint violations:", problems[:3])
            ok = ok and passed
    print("targets (solve < 10 s, objective >= greedy, gap <= 1%):", "met" if ok else "MISSED")


if __name__ == "__main__":
    main()
