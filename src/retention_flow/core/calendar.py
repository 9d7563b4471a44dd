"""Business hours: SLA durations that only count while the call centre is open.

``PT4H`` in business time means four opening hours; ``P2D`` means two working days (the
same time of day, two working days later). Working days, opening hours, holidays and
the time zone come from settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .durations import add_months, parse_duration, split_calendar_part, timedelta_of

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    opens: time
    closes: time
    workdays: frozenset[int]  # 0 = Monday
    holidays: frozenset[date]

    @classmethod
    def from_settings(
        cls, zone: str, hours: str, days: str, holidays: list[date] | tuple[date, ...]
    ) -> BusinessCalendar:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in hours.split("-", 1))
        except ValueError as exc:
            raise ValueError(f"business hours {hours!r} must look like 08:00-18:00") from exc
        if end <= start:
            raise ValueError(f"business hours {hours!r} must close after they open")
        names = [d.strip().lower()[:3] for d in days.split(",") if d.strip()]
        unknown = [n for n in names if n not in DAY_NAMES]
        if unknown or not names:
            raise ValueError(f"business days {days!r}: use names such as mon,tue,wed,thu,fri")
        return cls(
            ZoneInfo(zone),
            start,
            end,
            frozenset(DAY_NAMES.index(n) for n in names),
            frozenset(holidays),
        )

    def is_workday(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def _open_window(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.opens, self.zone),
            datetime.combine(day, self.closes, self.zone),
        )

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start`` plus ``duration`` of opening hours (returned in UTC)."""
        if duration < timedelta(0):
            raise ValueError("business durations cannot be negative")
        moment = start.astimezone(self.zone)
        remaining = duration
        for _ in range(3660):  # ten years of days: a calendar without workdays cannot loop
            day = moment.date()
            if self.is_workday(day):
                opens, closes = self._open_window(day)
                if moment < opens:
                    moment = opens
                if moment < closes:
                    available = closes - moment
                    if remaining <= available:
                        return (moment + remaining).astimezone(UTC)
                    remaining -= available
            moment = datetime.combine(day + timedelta(days=1), self.opens, self.zone)
        raise ValueError("the business calendar has no working time ahead")

    def add_iso(self, start: datetime, duration: str) -> datetime:
        """An ISO 8601 duration in business terms: days are working days, the time part
        opening hours. Years, months and weeks count as calendar time, then the result is
        moved to the next opening moment."""
        months, parsed = split_calendar_part(parse_duration(duration))
        days = int(parsed.pop("days", 0))
        weeks = parsed.pop("weeks", 0)
        time_part = timedelta_of(parsed)
        # years, months and weeks: calendar time
        moment = add_months(start, months) + timedelta(weeks=weeks)
        local = moment.astimezone(self.zone)
        for _ in range(days):
            local = self._next_workday_same_time(local)
        return self.add(local, time_part)

    def _next_workday_same_time(self, moment: datetime) -> datetime:
        day = moment.date() + timedelta(days=1)
        while not self.is_workday(day):
            day += timedelta(days=1)
        return datetime.combine(day, moment.timetz().replace(tzinfo=None), self.zone)
