"""Time is read through a clock so tests can move it forward instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall clock: ``start`` at
    the wall-clock moment ``anchor`` (Unix seconds). Processes given the same three values
    agree on the time, so a deployment of several processes can live through a simulated
    day in minutes (timers fire, due times pass, at the simulated pace)."""

    def __init__(
        self,
        start: datetime,
        anchor: float,
        speed: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs an aware start")
        if speed <= 0:
            raise ValueError("ScaledClock needs a positive speed")
        self.start, self.anchor, self.speed, self._wall = start, anchor, speed, wall

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._wall() - self.anchor) * self.speed)


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
