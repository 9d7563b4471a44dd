"""The figures of bench/simulate_day.py's HTTP mode: per run (one multiple of the
baseline) throughput, p95 per endpoint, case starts behind plan, SLA adherence and backlog
per queue at the end of the simulated day (from the database), the load average; over the
runs, the headroom."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from _common import percentile
from day_http import ENDPOINTS, Run
from retention_flow.db.session import create_db_engine
from retention_flow.db.tables import TIMER, WORK_ITEM

#: a multiple is sustained when case starts go out at most one staff look (5 simulated
#: minutes) late at p95, no endpoint's p95 passes --p95-limit-ms, and the backlog per case
#: at the end of the day is at most this times the lowest multiple's (plus one item per
#: 100 cases, for the small runs' noise)
BACKLOG_GROWTH = 1.5
LAG_LIMIT_MINUTES = 5.0


@dataclass
class Outcome:
    run: Run
    wall: float
    due: int = 0
    on_time: int = 0
    backlog: int = 0
    timers_pending: int = 0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.run.calls.values())

    @property
    def started(self) -> int:
        return sum(n for k, n in self.run.counts.items() if k.startswith("started"))

    @property
    def backlog_per_case(self) -> float:
        return self.backlog / max(1, self.started)

    def server_cpu_ms(self) -> float:
        """CPU milliseconds of the deployment and its database per request."""
        spent = self.run.cpu.get("deployment", 0.0) + self.run.cpu.get("postgres", 0.0)
        return spent * 1000 / max(1, self.requests)

    def p95(self, endpoint: str) -> float:
        return percentile(self.run.calls[endpoint], 0.95) if self.run.calls[endpoint] else 0.0

    def lag_p95(self) -> float:
        return percentile(self.run.lag_minutes, 0.95) if self.run.lag_minutes else 0.0

    def peak_rps(self) -> float:
        """Requests per wall second in the busiest simulated hour."""
        busiest = max(self.run.by_hour.values(), default=0)
        return busiest / (3600 / self.run.speed)


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _queue(role: str, partner: str | None) -> str:
    return f"partner:{partner}" if partner else role


def read_end_of_day(url: str, outcome: Outcome, label: str) -> None:
    """SLA adherence and backlog per queue at the end of the simulated day."""
    run, ends = outcome.run, outcome.run.ends
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            items = conn.execute(
                select(
                    WORK_ITEM.c.role,
                    WORK_ITEM.c.partner,
                    WORK_ITEM.c.state,
                    WORK_ITEM.c.due_at,
                    WORK_ITEM.c.ended_at,
                )
            ).all()
            timers = conn.execute(select(TIMER.c.due_at).where(TIMER.c.state == "pending")).all()
    finally:
        engine.dispose()
    due, met, open_, late = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for role, partner, state, due_at, ended_at in items:
        queue, due_at, ended_at = _queue(role, partner), _aware(due_at), _aware(ended_at)
        assert due_at is not None
        if state in ("ready", "claimed"):
            open_[queue] += 1
            late[queue] += due_at <= ends
        if due_at <= ends and state != "cancelled":
            due[queue] += 1
            met[queue] += state == "completed" and ended_at is not None and ended_at <= due_at
    outcome.due, outcome.on_time = sum(due.values()), sum(met.values())
    outcome.backlog = sum(open_.values())
    outcome.timers_pending = len(timers)
    sla = "  ".join(f"{q} {met[q] / due[q]:.0%} of {due[q]}" for q in sorted(due))
    share = outcome.on_time / max(1, outcome.due)
    print(
        f"({label}) SLA adherence at {ends:%H:%M} (work items due by then, completed by"
        f" their due time): {share:.1%} of {outcome.due:,};  {sla}"
    )
    queues = "  ".join(
        f"{q} {open_[q]}" + (f" ({late[q]} past due)" if late[q] else "") for q in sorted(open_)
    )
    whole = 1 / run.share
    print(
        f"({label}) backlog at {ends:%H:%M} (ready or claimed): {outcome.backlog:,}"
        f" = {outcome.backlog_per_case:.3f} per case (x{whole:,.0f} for the whole operation:"
        f" {outcome.backlog * whole:,.0f});  {queues or 'none'};"
        f" {outcome.timers_pending:,} timers pending"
    )


def print_run(label: str, outcome: Outcome, limit_ms: float) -> None:
    run, wall = outcome.run, outcome.wall
    mix = ", ".join(
        f"{k.split()[1]} {n}" for k, n in sorted(run.counts.items()) if k.startswith("started")
    )
    started, tasks = outcome.started, run.counts["tasks"]
    print(
        f"\n({label}) {run.multiple:g}x: {started:,} of {run.cases:,} cases started ({mix}),"
        f" {tasks:,} tasks completed, {outcome.requests:,} requests in {wall:.1f} s wall"
        f" ({run.hours:g} simulated h at {run.speed:g}x; share {run.share:.5f};"
        f" offered load {run.share * run.speed:.2f} of the real rate)"
    )
    print(
        f"({label}) throughput: {outcome.requests / wall:.1f} requests/s, {started / wall:.2f}"
        f" cases/s, {tasks / wall:.1f} tasks/s (busiest simulated hour"
        f" {outcome.peak_rps():.1f} requests/s); per case {tasks / max(1, started):.2f} tasks,"
        f" {outcome.requests / max(1, started):.1f} requests"
    )
    calls = "  ".join(
        f"{e} {outcome.p95(e):.0f} ({percentile(run.calls[e], 0.5):.0f})"
        for e in ENDPOINTS
        if run.calls[e]
    )
    over = [e for e in ENDPOINTS if outcome.p95(e) > limit_ms]
    print(
        f"({label}) p95 ms (p50) per endpoint: {calls}"
        + (f"  over {limit_ms:.0f} ms: {', '.join(over)}" if over else "")
    )
    planned = run.hours * 3600 / run.speed
    if wall > 1.05 * planned:
        print(
            f"({label}) the day took {wall:.0f} s wall against its {planned:.0f} s: work taken"
            " up before 20:00 was still being answered after it (the deployment fell behind)"
        )
    lag = run.lag_minutes
    print(
        f"({label}) case starts behind plan: p95 {outcome.lag_p95():.1f}, max"
        f" {max(lag, default=0):.1f} simulated min;  refused: {dict(run.errors) or 'none'}"
    )
    if run.cpu:
        server = outcome.server_cpu_ms()
        print(
            f"({label}) CPU while measuring: deployment {run.cpu['deployment']:.1f} s,"
            f" PostgreSQL {run.cpu.get('postgres', 0.0):.1f} s, client {run.cpu['client']:.1f} s"
            f" = {server:.1f} ms of server CPU per request (deployment + database)"
        )
    if run.pg:
        print(f"({label}) PostgreSQL while loaded (scale_out's PgWatch): {run.pg}")
    if run.load:
        print(
            f"({label}) load average (1 min) while measuring: mean"
            f" {sum(run.load) / len(run.load):.2f}, max {max(run.load):.2f}"
        )


def sustained(outcome: Outcome, base: Outcome, limit_ms: float) -> list[str]:
    """Why ``outcome``'s multiple was not sustained (empty: it was)."""
    why = []
    if outcome.lag_p95() > LAG_LIMIT_MINUTES:
        why.append(f"case starts {outcome.lag_p95():.1f} simulated min late (p95)")
    why += [f"{e} p95 {outcome.p95(e):.0f} ms" for e in ENDPOINTS if outcome.p95(e) > limit_ms]
    allowed = BACKLOG_GROWTH * base.backlog_per_case + 0.01
    if outcome is not base and outcome.backlog_per_case > allowed:
        why.append(
            f"backlog {outcome.backlog_per_case:.3f} per case"
            f" (> {BACKLOG_GROWTH:g} x {base.backlog_per_case:.3f} of {base.run.multiple:g}x)"
        )
    return why


def headroom(label: str, outcomes: list[Outcome], limit_ms: float) -> dict[str, Any]:
    """The highest multiple sustained (measured), and the multiple the saturation point
    allows (computed: the most requests/s answered in the busiest simulated hour of a run
    that was not sustained, over the lowest multiple's busiest-hour requests/s per
    multiple); and a CPU-bound estimate."""
    outcomes = sorted(outcomes, key=lambda o: o.run.multiple)
    base = outcomes[0]
    verdicts = [(o, sustained(o, base, limit_ms)) for o in outcomes]
    for o, why in verdicts:
        print(f"({label}) {o.run.multiple:g}x: {'sustained' if not why else '; '.join(why)}")
    held = [o.run.multiple for o, why in itertools.takewhile(lambda v: not v[1], verdicts)]
    per_multiple = base.peak_rps() / base.run.multiple
    top = outcomes[-1]
    behind = [o for o, why in verdicts if why]
    # the saturation point: the most requests/s a run that did not keep up got answered
    saturated = max(behind, key=lambda o: o.peak_rps()) if behind else None
    if saturated is not None:
        computed = saturated.peak_rps() / per_multiple
        method = (
            f"{saturated.peak_rps():.1f} requests/s reached in the busiest simulated hour at"
            f" {saturated.run.multiple:g}x (not sustained) / {per_multiple:.2f} requests/s per"
            f" multiple in {base.run.multiple:g}x's busiest hour"
        )
        text = f"about {computed:.0f}x"
    else:
        computed = top.peak_rps() / per_multiple
        method = f"every run sustained: at least the largest, {top.run.multiple:g}x"
        text = f"at least {computed:.0f}x"
    if top.server_cpu_ms() > 0:
        cores = os.cpu_count() or 1
        capacity = cores * 1000 / top.server_cpu_ms()
        print(
            f"({label}) CPU-bound estimate: {cores} cores / {top.server_cpu_ms():.1f} ms of"
            f" server CPU per request (at {top.run.multiple:g}x) = {capacity:.0f} requests/s"
            f" with the machine to itself and the client elsewhere = about"
            f" {capacity / per_multiple:.0f}x ({per_multiple:.2f} requests/s per multiple in"
            f" the busiest hour)"
        )
    best = max(held, default=0.0)
    measured = f"{best:g}x" if held else f"none (not even {base.run.multiple:g}x)"
    print(
        f"({label}) headroom: highest multiple sustained {measured} (measured);"
        f" computed from the saturation point {text} ({method})"
    )
    return {"sustained": best, "computed": computed}
