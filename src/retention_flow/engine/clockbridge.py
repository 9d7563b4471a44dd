"""Make SpiffWorkflow's timers read our clock.

SpiffWorkflow's timer event definitions call ``datetime.now(timezone.utc)`` directly.
We replace the ``datetime`` name in that one module with a subclass whose ``now``
asks the clock installed for the current thread (``use_clock``), falling back to the
real time. Everything else about ``datetime`` is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module

_local = threading.local()


class _ClockedDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ClockedDatetime:
        source: Callable[[], datetime] | None = getattr(_local, "now", None)
        value = source() if source is not None else datetime.now(UTC)
        value = (
            value.astimezone(tz) if tz is not None else value.astimezone(UTC).replace(tzinfo=None)
        )
        return cls.fromisoformat(value.isoformat())


_timer_module.datetime = _ClockedDatetime


@contextmanager
def use_clock(now: Callable[[], datetime]) -> Iterator[None]:
    previous = getattr(_local, "now", None)
    _local.now = now
    try:
        yield
    finally:
        _local.now = previous
