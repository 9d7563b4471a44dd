"""The typed answers of the KPI services: one KPI row, an agent's scorecard, the
dashboard's whole answer. The API's KPI schemas are these classes."""

from __future__ import annotations

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


__all__ = ["KpiDashboard", "KpiRow", "ScoreComponent", "Scorecard"]
