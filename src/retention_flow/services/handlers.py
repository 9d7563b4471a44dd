"""Service-task handlers by name (``spiffworkflow:serviceTaskOperator id``).

The retention channels register theirs here (booking contract changes, letters,
partner allocation, settlement). A handler gets the task data and the evaluated
parameters and returns JSON-serialisable data for the task's result variable.
"""

from __future__ import annotations

from typing import Any

from .context import ServiceHandler


def echo(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Return the parameters: lets a diagram test a service task without side effects."""
    return dict(params)


def default_service_handlers() -> dict[str, ServiceHandler]:
    return {"echo": echo}
