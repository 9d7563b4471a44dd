"""The what-if simulation (services/insight/whatif.py) at 1x, 10x and 50x a recorded day of all
four channels.

The day is recorded first with bench/simulate_day.py's simulation (``--cases`` cases of
processes/retention through the service layer, on SQLite; its people complete tasks
straight from the queue, so no handling time is measured and the what-if uses its
default of 300 s per task; and each queue is worked under one user name, so the
recorded staffing is one agent per hour where anyone worked: the "scaled" plan multiplies
it by the volume, and neither is the simulate_day's real capacity). Then ``what_if`` runs
over that day at each ``--volumes`` multiple, once with the recorded staffing and once
with it scaled by the volume, and the best of ``--rounds`` wall (and CPU) times is
printed with its ratio to the 1x run; the search for the smallest staffing (``suggest``)
is timed once at the largest volume.

    python bench/whatif.py [--cases 400] [--volumes 1,10,50] [--rounds 2] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from _common import make_context, sqlite_database
from retention_flow.core.clock import FrozenClock
from retention_flow.services.insight import whatif
from simulate_day import DAY, FULL_DAY, Sim, plan_arrivals, simulate

MIX = {"outbound": 40.0, "inbound": 30.0, "mail": 20.0, "partner": 10.0}


def _timed(
    ctx: Any, volume: float, staffing: Any, rounds: int, seed: int
) -> tuple[float, float, Any]:
    best, cpu, answer = float("inf"), float("inf"), None
    for _ in range(rounds):
        began, used = time.perf_counter(), time.process_time()
        answer = whatif.what_if(
            ctx,
            DAY,
            DAY + timedelta(days=1),
            volume=volume,
            staffing=staffing,
            seed=seed,
            with_suggestion=False,
        )
        best = min(best, time.perf_counter() - began)
        cpu = min(cpu, time.process_time() - used)
    return best, cpu, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--volumes", default="1,10,50")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    volumes = [float(v) for v in args.volumes.split(",")]
    with sqlite_database() as url:
        clock = FrozenClock(DAY)
        ctx = make_context(url, clock)
        began = time.perf_counter()
        sim = Sim(ctx, clock, args.seed, args.cases / FULL_DAY)
        plan_arrivals(sim, args.cases, MIX)
        simulate(sim)
        print(f"recorded a day of {args.cases:,} cases in {time.perf_counter() - began:.0f} s")
        base: dict[str, float] = {}
        for volume in volumes:
            for plan in ("recorded", "scaled"):
                staffing = None
                if plan == "scaled":
                    measured = whatif.measure(ctx, DAY, DAY + timedelta(days=1))
                    staffing = {
                        r: [round(n * volume) for n in hours]
                        for r, hours in measured.recorded_staffing.items()
                    }
                seconds, cpu, answer = _timed(ctx, volume, staffing, args.rounds, args.seed)
                base.setdefault(plan, seconds)
                tasks = sum(q.tasks for q in answer.queues)
                sla = ", ".join(
                    f"{q.role} {q.adherence} (recorded {q.recorded_adherence})"
                    for q in answer.queues
                )
                print(
                    f"{volume:>4g}x, {plan} staffing: {seconds:.2f} s wall, {cpu:.2f} s CPU "
                    f"({seconds / base[plan]:.1f}x the 1x wall time), {tasks:,} tasks, "
                    f"{answer.simulated_hours} h simulated; SLA adherence {sla}",
                    flush=True,
                )
        began = time.perf_counter()
        hint = whatif.suggest(
            whatif.measure(ctx, DAY, DAY + timedelta(days=1)), volumes[-1], args.seed, 0.8
        )
        print(
            f"suggestion at {volumes[-1]:g}x (target 0.8): {hint.agents} in "
            f"{time.perf_counter() - began:.1f} s ({hint.runs} runs), met: {hint.met}"
        )
        ctx.dispose()


if __name__ == "__main__":
    main()
