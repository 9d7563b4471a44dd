"""The views of routing: the next task offered to an agent and why, in the shapes of the
REST contract."""

from __future__ import annotations

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


__all__ = ["NextTask", "OfferNote", "OfferWhy"]
