"""The written KPI definitions, one source for the dashboard, the API and ``docs/kpis.md``
(a test checks the doc names every KPI here), and the arithmetic that turns the database's
sums and counts into them (``Sums.row``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: (key, name, definition): in the order the dashboard lists them
DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    (
        "as_of",
        "As of",
        "The moment the figures describe: now, or the end of the period if it is over "
        "(whichever is earlier). Open work is judged at this moment.",
    ),
    (
        "volume",
        "Cases opened",
        "Retention cases created in the period (bundles with retention_cases false, "
        "e.g. scan exceptions, are not retention cases).",
    ),
    ("ended", "Cases ended", "Retention cases that ended in the period with an outcome."),
    ("retention_rate", "Retention rate", "retained / ended."),
    (
        "contacts",
        "Contact",
        "One customer interaction: the contact tasks (roles agent, telemarketing, inbound, "
        "specialist, partner) of one case done by one person without a wait between them. "
        "A contact task created by the step that completed the same person's previous "
        "contact task of the case continues that contact (capturing the reason and "
        "presenting the offer in one call is one contact).",
    ),
    (
        "first_contact_resolution",
        "First-contact resolution (FCR)",
        "Of the ended cases with at least one contact (fcr_cases), the share that took "
        "exactly one contact and after which the same customer (case key customer_id) "
        "opened no other case within N days of the end (N = kpi_fcr_days, default 7). "
        "Until N days have passed a case counts on what is known at the as-of moment.",
    ),
    (
        "service_level",
        "Service level",
        "within due / (tasks completed in the period + tasks open at the as-of moment "
        "and already past their due time). Open overdue work counts as a miss.",
    ),
    (
        "answered_in_time",
        "Answered in time",
        "Of the tasks completed in the period, the share whose waiting time was at most "
        "kpi_answer_seconds (default 20 s): the inbound queue's answer level.",
    ),
    (
        "avg_handling_seconds",
        "Handling time",
        "From the agent opening the task (its page, or claiming it) to completing it, "
        "pauses (released or reassigned) excluded; average over the tasks completed in "
        "the period. A task completed without being opened first handles in 0 s.",
    ),
    (
        "avg_waiting_seconds",
        "Waiting time",
        "From the task becoming ready to the first start of work on it (or to its "
        "completion if nobody opened it first); average over the tasks completed in "
        "the period.",
    ),
    (
        "avg_manual_seconds",
        "Manual work per case",
        "The handling times of all of an ended case's completed human tasks added up, "
        "averaged over the ended cases (an automated case adds 0 s).",
    ),
    (
        "manual_under_target_share",
        "Cases under the manual-work target",
        "Share of the ended cases whose manual work is below kpi_manual_target_seconds "
        "(default 60 s: the programme's one-minute target).",
    ),
    (
        "avg_resolution_seconds",
        "Resolution time",
        "Case start to case end, averaged over the ended cases.",
    ),
    (
        "automation_share",
        "Automation share",
        "Of the ended cases, the share that ended without any human task completed "
        "(straight-through scans, rule-only paths).",
    ),
    (
        "saved_revenue_cents",
        "Saved monthly revenue",
        "The case data's monthly_revenue_cents added up over the retained cases.",
    ),
    (
        "offer_cost_cents",
        "Offer cost",
        "Over the retained cases: the case data's offer_cost_cents, else the monthly "
        "cost of its offer_code in kpi_offer_cost_cents; offer_cost_unknown counts the "
        "retained cases with an offer whose cost is known to neither.",
    ),
    (
        "no_response_rate",
        "No-response rate",
        "Ended cases with the outcome no_response / ended.",
    ),
    (
        "csat",
        "Customer satisfaction (CSAT)",
        "The average of the case data's csat (1 to 5) over the ended cases where the "
        "customer answered (csat_answered); cases without an answer are left out.",
    ),
    (
        "tasks_completed",
        "Tasks completed",
        "Work items completed in the period.",
    ),
    (
        "backlog",
        "Backlog and overdue",
        "Work items open at the as-of moment (for a day/week/month bucket: at its end, "
        "or at the as-of moment if earlier), and of those the ones past their due time "
        "(backlog_overdue).",
    ),
)
KPI_KEYS = tuple(key for key, _name, _text in DEFINITIONS)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def _avg(total: float, count: float) -> float | None:
    return round(total / count, 3) if count else None


@dataclass
class Sums:
    """What the database answers per group, added up across days and agents."""

    volume: int = 0
    ended: int = 0
    retained: int = 0
    no_response: int = 0
    automated: int = 0
    manual: float = 0.0
    manual_under: int = 0
    fcr_cases: int = 0
    fcr_first: int = 0
    resolution: float = 0.0
    saved_revenue: float = 0.0
    offer_cost: float = 0.0
    offer_cost_unknown: int = 0
    csat_answered: int = 0
    csat_sum: float = 0.0
    tasks: int = 0
    within_due: int = 0
    handling: float = 0.0
    handled: int = 0
    waiting: float = 0.0
    answered: int = 0
    backlog: int = 0
    overdue: int = 0

    def add(self, row: Any) -> None:
        for f in fields(self):
            if f.name in row:  # PostgreSQL answers numeric sums as Decimal
                value = row[f.name] or 0
                current = getattr(self, f.name)
                setattr(
                    self,
                    f.name,
                    current + (int(value) if isinstance(current, int) else float(value)),
                )

    def row(self) -> dict[str, Any]:
        return {
            "volume": self.volume,
            "ended": self.ended,
            "retained": self.retained,
            "retention_rate": _ratio(self.retained, self.ended),
            "tasks_completed": self.tasks,
            "avg_handling_seconds": _avg(self.handling, self.handled),
            "avg_waiting_seconds": _avg(self.waiting, self.tasks),
            "answered_in_time": _ratio(self.answered, self.tasks),
            "service_level": _ratio(self.within_due, self.tasks + self.overdue),
            "fcr_cases": self.fcr_cases,
            "first_contact_resolution": _ratio(self.fcr_first, self.fcr_cases),
            "backlog": self.backlog,
            "backlog_overdue": self.overdue,
            "avg_manual_seconds": _avg(self.manual, self.ended),
            "manual_under_target_share": _ratio(self.manual_under, self.ended),
            "avg_resolution_seconds": _avg(self.resolution, self.ended),
            "automated": self.automated,
            "automation_share": _ratio(self.automated, self.ended),
            "saved_revenue_cents": round(self.saved_revenue),
            "offer_cost_cents": round(self.offer_cost),
            "offer_cost_unknown": self.offer_cost_unknown,
            "no_response_rate": _ratio(self.no_response, self.ended),
            "csat_answered": self.csat_answered,
            "csat": _avg(self.csat_sum, self.csat_answered),
        }


#: the columns of the CSV export, in order
CSV_KPIS = (
    "volume",
    "ended",
    "retained",
    "retention_rate",
    "tasks_completed",
    "avg_handling_seconds",
    "avg_waiting_seconds",
    "answered_in_time",
    "service_level",
    "fcr_cases",
    "first_contact_resolution",
    "backlog",
    "backlog_overdue",
    "avg_manual_seconds",
    "manual_under_target_share",
    "avg_resolution_seconds",
    "automated",
    "automation_share",
    "saved_revenue_cents",
    "offer_cost_cents",
    "offer_cost_unknown",
    "no_response_rate",
    "csat_answered",
    "csat",
)
