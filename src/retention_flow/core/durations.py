"""ISO 8601 durations (``P1Y2M3DT4H5M6S``, ``P2W``) without a workflow library."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


def parse_duration(text: str) -> dict[str, float]:
    """The parts of an ISO 8601 duration; ``ValueError`` names a bad one."""
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT4H or P2D")
    return {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v is not None}


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def split_calendar_part(parts: dict[str, float]) -> tuple[int, dict[str, float]]:
    """(months from years and months, the remaining parts)."""
    rest = dict(parts)
    months = int(rest.pop("years", 0)) * 12 + int(rest.pop("months", 0))
    return months, rest


def timedelta_of(parts: dict[str, float]) -> timedelta:
    return timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
