"""ISO 8601 durations in core (no workflow library below the engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retention_flow.core.durations import add_months, parse_duration, timedelta_of


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("PT4H", {"hours": 4}),
        ("P2D", {"days": 2}),
        (
            "P1Y2M3DT4H5M6.5S",
            {"years": 1, "months": 2, "days": 3, "hours": 4, "minutes": 5, "seconds": 6.5},
        ),
        ("P2W", {"weeks": 2}),
        ("pt30m", {"minutes": 30}),
    ],
)
def test_parse(text: str, parts: dict[str, float]) -> None:
    assert parse_duration(text) == parts


@pytest.mark.parametrize("bad", ["", "P", "PT", "4H", "P1H", "PT1D", "P-1D", "not a duration"])
def test_parse_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(bad)


def test_months_clamp_and_timedelta() -> None:
    jan31 = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert add_months(jan31, 13) == datetime(2027, 2, 28, 9, tzinfo=UTC)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1).day == 29
    assert timedelta_of({"weeks": 1, "hours": 2}) == timedelta(days=7, hours=2)
