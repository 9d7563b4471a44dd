"""The scope of one case step that service-task handlers run in.

``stepping`` opens a :class:`StepContext` around the engine's run of a step;
a handler (``services/steps/handlers.py`` and the handlers of other modules: campaigns, scan
exceptions) reaches it with :func:`current_step` and writes through its connection, in
the step's transaction, behind a savepoint. Kept apart from the handlers themselves so
that the step machinery does not import every module a handler uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from retention_flow.core.config import Settings
from retention_flow.core.errors import ScriptError
from retention_flow.services.audit.trail import NewEvent


@dataclass
class StepContext:
    """What a handler may use: the step's transaction, case and actor."""

    session: Session
    case_id: str
    actor: str
    now: datetime
    commission_cents: dict[str, int] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    #: the service's settings (None in a bare engine run: no self-service links then)
    settings: Settings | None = None
    _savepoint: Any = None

    def connection(self) -> Connection:
        """The step's connection, behind a savepoint taken on first use."""
        if self._savepoint is None:
            self._savepoint = self.session.begin_nested()
        return self.session.connection()

    def rollback(self) -> None:
        if self._savepoint is not None:
            self._savepoint.rollback()
            self._savepoint = None
        self.events.clear()

    def release(self) -> None:
        if self._savepoint is not None:
            self._savepoint.commit()
            self._savepoint = None


_current: ContextVar[StepContext | None] = ContextVar("retention_flow_step", default=None)


@contextmanager
def step_context(step: StepContext) -> Iterator[StepContext]:
    token = _current.set(step)
    try:
        yield step
    finally:
        _current.reset(token)


def current_step() -> StepContext:
    step = _current.get()
    if step is None:
        raise ScriptError("this service can only run inside a case step")
    return step
