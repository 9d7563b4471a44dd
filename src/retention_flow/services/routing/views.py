"""The views of routing: the next task offered to an agent and why, in the shapes of the
REST contract."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.view import View


class OfferWhy(View):
    """Why a task was offered: the rule that chose it, its score and one line of reason."""

    rule: str = Field(description="sla | outcome | explore | fifo")
    score: float
    reason: str = Field(description="one line: why this task came to this agent")


class NextTask(View):
    """The task for an agent now, why it was offered, and how many are held for others."""

    task: TaskView | None = Field(description="claimed for you; null: nothing for you now")
    offer: OfferWhy | None = Field(description="null when the task was already yours")
    held: int = Field(description="tasks held for better-matched colleagues until at risk")


class OfferNote(View):
    """The latest offer of a task to an agent (the task page's "why this task")."""

    rule: str
    reason: str


class SkillView(View):
    """A skill an agent holds, at a proficiency (1 basic ... 5 expert)."""

    username: str
    kind: str
    value: str
    proficiency: int
    updated_by: str
    updated_at: str | None


class OfferDecisionView(View):
    """One task offered to one agent by "next task": the rule, its score and its inputs."""

    id: int
    at: str
    username: str
    task_id: str
    case_id: str
    segment: str | None
    rule: str
    score: float
    reason: str
    candidates: int
    inputs: dict[str, Any]


class AgentOffers(View):
    """How many offers an agent had, by rule and by segment (a fairness review)."""

    username: str
    offers: int
    by_rule: dict[str, int] = Field(default_factory=dict)
    by_segment: dict[str, int] = Field(default_factory=dict)


class OfferReview(View):
    """Recent offer decisions, how many match, and a summary per agent."""

    data: list[OfferDecisionView]
    count: int
    by_agent: list[AgentOffers] = Field(
        description="per agent: offers, by rule, by segment (for a fairness review)"
    )


__all__ = [
    "AgentOffers",
    "NextTask",
    "OfferDecisionView",
    "OfferNote",
    "OfferReview",
    "OfferWhy",
    "SkillView",
]
