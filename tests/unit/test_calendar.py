"""Business hours: Mon-Fri 08:00-18:00 Europe/Berlin, 2026-01-06 a holiday."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from retention_flow.core.calendar import BusinessCalendar

CAL = BusinessCalendar.from_settings(
    "Europe/Berlin", "08:00-18:00", "mon,tue,wed,thu,fri", [date(2026, 1, 6)]
)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    # January: Berlin is UTC+1
    return datetime(2026, 1, day, hour - 1, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (berlin(5, 9), "PT4H", berlin(5, 13)),  # Monday, within the day
        (berlin(5, 16), "PT4H", berlin(7, 10)),  # runs over the night and the holiday
        (berlin(5, 19), "PT1H", berlin(7, 9)),  # after hours: starts at the next opening
        (berlin(9, 17), "PT2H", berlin(12, 9)),  # Friday evening to Monday morning
        (berlin(10, 11), "PT30M", berlin(12, 8, 30)),  # Saturday: from Monday's opening
        (berlin(5, 9), "P1D", berlin(7, 9)),  # one working day (Tuesday is a holiday)
        (berlin(8, 12), "P2DT1H", berlin(12, 13)),  # Thu -> Fri -> Mon, then an hour
        (berlin(5, 9), "PT0S", berlin(5, 9)),
    ],
)
def test_add_iso(start: datetime, duration: str, expected: datetime) -> None:
    assert CAL.add_iso(start, duration) == expected


def test_add_timedelta_and_errors() -> None:
    assert CAL.add(berlin(5, 17), timedelta(hours=2)) == berlin(7, 9)
    with pytest.raises(ValueError, match="negative"):
        CAL.add(berlin(5, 9), timedelta(hours=-1))
    with pytest.raises(ValueError, match="08:00-18:00"):
        BusinessCalendar.from_settings("UTC", "8 to 6", "mon", [])
    with pytest.raises(ValueError, match="close after"):
        BusinessCalendar.from_settings("UTC", "18:00-08:00", "mon", [])
    with pytest.raises(ValueError, match="mon,tue"):
        BusinessCalendar.from_settings("UTC", "08:00-18:00", "monday,funday", [])
    closed = BusinessCalendar.from_settings("UTC", "08:00-18:00", "mon", [])
    assert closed.add(datetime(2026, 1, 6, tzinfo=UTC), timedelta(hours=1)).weekday() == 0
