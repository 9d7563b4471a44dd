"""The simulated clock of load simulations (bench/simulate_day.py --http): every process
given the same settings reads the same, faster time; the real clock otherwise; refused in
production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from retention_flow.core.clock import ScaledClock, SystemClock
from retention_flow.core.config import Settings
from retention_flow.services.platform.context import settings_clock

START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def test_scaled_clock_runs_speed_times_faster_from_its_anchor() -> None:
    wall = [1000.0]
    clock = ScaledClock(START, 1000.0, 240.0, wall=lambda: wall[0])
    assert clock.now() == START
    wall[0] = 1015.0  # 15 wall seconds: an hour simulated
    assert clock.now() == START + timedelta(hours=1)
    other = ScaledClock(START, 1000.0, 240.0, wall=lambda: wall[0])  # another process
    assert other.now() == clock.now()


@pytest.mark.parametrize(
    ("start", "speed", "message"),
    [(datetime(2026, 1, 5, 8), 2.0, "aware"), (START, 0.0, "positive")],
)
def test_scaled_clock_refuses_a_naive_start_or_no_speed(
    start: datetime, speed: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ScaledClock(start, 0.0, speed)


def test_settings_choose_the_clock() -> None:
    assert isinstance(settings_clock(Settings(database_url="sqlite:///unused.db")), SystemClock)
    clock = settings_clock(
        Settings(
            database_url="sqlite:///unused.db",
            sim_clock_start=START,
            sim_clock_anchor=0.0,
            sim_clock_speed=60.0,
        )
    )
    assert isinstance(clock, ScaledClock) and clock.speed == 60.0
    assert clock.now() > datetime.now(UTC) + timedelta(days=365)  # 56 years at 60x since 1970


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sim_clock_start": START}, "together"),
        ({"sim_clock_anchor": 1.0}, "together"),
        ({"sim_clock_start": "2026-01-05T08:00:00", "sim_clock_anchor": 1.0}, "time zone"),
        ({"sim_clock_start": START, "sim_clock_anchor": 1.0, "sim_clock_speed": 0}, "greater"),
    ],
)
def test_incomplete_simulated_clock_settings_are_refused(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(database_url="sqlite:///unused.db", **values)  # type: ignore[arg-type]


def test_production_refuses_a_simulated_clock() -> None:
    settings = Settings(
        database_url="sqlite:///unused.db",
        environment="production",
        secret_key="x" * 40,
        sim_clock_start=START,
        sim_clock_anchor=0.0,
    )
    assert settings.startup_problems() == [
        "RETENTION_FLOW_SIM_CLOCK_START is set (simulations only)"
    ]
