"""The typed answers of the KPI services: one KPI row, an agent's scorecard, the
dashboard's whole answer (the API's KPI schemas are these classes); and the what-if
simulation's answer: per queue, per hour, the suggested staffing."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from retention_flow.services.platform.view import View


class KpiRow(View):
    """One group's figures over a period (see ``kpi_definitions.DEFINITIONS``)."""

    group: dict[str, str]
    volume: int
    ended: int
    retained: int
    retention_rate: float | None
    tasks_completed: int
    avg_handling_seconds: float | None
    avg_waiting_seconds: float | None
    answered_in_time: float | None
    service_level: float | None
    fcr_cases: int
    first_contact_resolution: float | None
    backlog: int
    backlog_overdue: int
    avg_manual_seconds: float | None
    manual_under_target_share: float | None
    avg_resolution_seconds: float | None
    automated: int
    automation_share: float | None
    saved_revenue_cents: int
    offer_cost_cents: int
    offer_cost_unknown: int
    no_response_rate: float | None
    csat_answered: int
    csat: float | None


class ScoreComponent(View):
    kpi: str
    value: float | None
    normalised: float | None
    weight: float
    effective_weight: float
    contribution: float


class Scorecard(View):
    """An agent's weighted score with every component shown."""

    agent: str
    score: float
    tasks_completed: int
    qa_reviews: int
    components: list[ScoreComponent]


class KpiDashboard(View):
    """What the KPI dashboard draws: ``totals`` (one row per group over the whole period),
    ``overall`` (no grouping), ``periods`` (one row per bucket and group that has any) and
    ``buckets`` (every bucket of the period, in order, so quiet days show as zero)."""

    by: str
    granularity: str
    start: str
    end: str
    as_of: str
    buckets: list[str]
    overall: KpiRow
    totals: list[KpiRow]
    periods: list[KpiRow]


class QueueResult(View):
    """One queue (role) of a what-if run: the tasks created in the period, how many met
    their SLA, waits, those left unfinished; ``recorded_adherence``: what happened."""

    role: str
    tasks: int
    met: int
    adherence: float | None
    wait_mean_seconds: float | None
    wait_p95_seconds: float | None
    unfinished: int
    recorded_adherence: float | None = None


class HourPoint(View):
    """One hour of a queue: arrivals, completions, the backlog at its end, the mean wait
    of the tasks started in it and the adherence of those completed in it."""

    hour: str
    arrivals: int
    completed: int
    backlog: int
    wait_mean_seconds: float | None
    adherence: float | None


class StaffingSuggestion(View):
    """The smallest flat staffing per role meeting ``target`` (``met``: all roles do),
    the adherence it reaches and how many simulation runs the search took."""

    target: float
    agents: dict[str, int]
    adherence: dict[str, float | None]
    met: bool
    runs: int


class WhatIfAnswer(View):
    """A what-if run of the recorded period ``from`` to ``to`` (ISO 8601) at ``volume``
    times its cases with ``staffing`` (agents per role per local hour)."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    volume: float
    seed: int
    staffing: dict[str, list[int]]
    queues: list[QueueResult]
    series: dict[str, list[HourPoint]]
    outcomes: dict[str, dict[str, int]]
    simulated_hours: float
    runtime_seconds: float
    suggestion: StaffingSuggestion | None
    #: what was measured of the period (counts and medians)
    measured: dict[str, Any]


__all__ = [
    "HourPoint",
    "KpiDashboard",
    "KpiRow",
    "QueueResult",
    "ScoreComponent",
    "Scorecard",
    "StaffingSuggestion",
    "WhatIfAnswer",
]
