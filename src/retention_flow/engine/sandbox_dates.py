"""Date and number helpers every diagram script sees (``add_duration``, ``days_between``...)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from retention_flow.core.calendar import BusinessCalendar
from retention_flow.core.clock import utc_iso

_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)


def parse_date(value: str | datetime | date) -> datetime:
    """An ISO-8601 date or date-time as an aware datetime; naive values are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO-8601 date: {value!r}") from None
    else:
        raise TypeError(f"parse_date() needs an ISO-8601 string, not {type(value).__name__}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _add_months(moment: datetime, months: int) -> datetime:
    year, month_index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    month = month_index + 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def add_duration(iso_datetime: str | datetime, iso_duration: str) -> str:
    """``add_duration('2026-01-31', 'P1M') == '2026-02-28'``; a date-time comes back in UTC.

    Years and months follow the calendar (clamped to the month's last day); a leading ``-``
    subtracts. A plain date stays a plain date when the duration has no time part.
    """
    match = _DURATION.fullmatch(iso_duration.strip())
    if match is None or not any(v for k, v in match.groupdict().items() if k != "sign"):
        raise ValueError(f"not an ISO-8601 duration: {iso_duration!r}")
    parts = {k: v for k, v in match.groupdict().items() if v and k != "sign"}
    sign = -1 if match["sign"] else 1
    moment = _add_months(
        parse_date(iso_datetime),
        sign * (12 * int(parts.pop("years", 0)) + int(parts.pop("months", 0))),
    )
    delta = timedelta(**{k: sign * float(v.replace(",", ".")) for k, v in parts.items()})
    moment += delta
    date_only = isinstance(iso_datetime, str) and len(iso_datetime.strip()) == 10
    if date_only and "T" not in iso_duration:
        return moment.date().isoformat()
    return utc_iso(moment)


def days_between(start: str | datetime, end: str | datetime) -> int:
    """Calendar days (in UTC) from ``start`` to ``end``; negative when ``end`` is earlier."""
    return (parse_date(end).astimezone(UTC).date() - parse_date(start).astimezone(UTC).date()).days


def make_now(clock: Callable[[], datetime]) -> Callable[[], str]:
    def now() -> str:
        """The current time as an ISO-8601 UTC string (``2026-01-05T09:00:00Z``)."""
        return utc_iso(clock())

    return now


def floor(value: float) -> int:
    return math.floor(value)


def ceil(value: float) -> int:
    return math.ceil(value)


@dataclass(frozen=True)
class BusinessDue:
    """``business_due(duration, role=None)``: ``duration`` of opening hours from ``moment``,
    in ``role``'s calendar (``calendars``) or the default one. Plain data, so a script worker
    process gets the same helper as the serving process."""

    calendar: BusinessCalendar
    calendars: Mapping[str, BusinessCalendar]
    moment: datetime

    def __call__(self, duration: str, role: str | None = None) -> str:
        if role is not None and not isinstance(role, str):
            raise ValueError("business_due's second argument must be a role name")
        calendar = self.calendars.get(role, self.calendar) if role else self.calendar
        return utc_iso(calendar.add_iso(self.moment, str(duration)))
