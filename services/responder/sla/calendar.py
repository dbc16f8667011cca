"""Business time: the weekly opening hours of a brand's desk, in its own time zone.

SLA targets count business time, so a deadline is found by walking the calendar day by day
from the message's arrival. Each local day is turned into its open spans as UTC instants; the
arithmetic then happens on instants alone, which keeps it exact across time zone changes.

Intervals are local wall-clock times, so on a daylight-saving day an interval lasts as long as
the clocks say: 00:00-06:00 is five real hours on a spring-forward day and seven on a
fall-back day. A wall time the clocks skip (spring forward) is resolved to the instant they
skip it, e.g. 02:30 in Paris on the last Sunday of March is 03:00 CEST; a wall time that
happens twice (fall back) is resolved to its first occurrence, e.g. 02:30 in Paris on the last
Sunday of October is 02:30 CEST. Both rules keep the resolution monotone in wall time, so a
day's intervals never overlap: the repeated hour is business time only within an interval that
runs past its end (01:00-02:00 in New York on the first Sunday of November lasts two hours).
"""

import functools
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # in date.weekday() order

HORIZON_DAYS = 400  # more days than that without business time: the calendar never opens
MINUTES_A_DAY = 24 * 60
ONE_DAY = timedelta(days=1)
NO_TIME = timedelta(0)

_INTERVAL = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")

Minutes = tuple[int, int]  # an interval as minutes after local midnight, [start, end)
Span = tuple[datetime, datetime]  # an interval as UTC instants, [start, end)


class BusinessHours(BaseModel):
    """Opening hours by weekday ("HH:MM-HH:MM", several a day, end up to "24:00") in an IANA
    time zone, and the local dates that are holidays. A weekday left out is closed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_zone: str
    intervals: dict[Weekday, list[str]]
    holidays: list[date] = Field(default_factory=list)

    @classmethod
    def always_open(cls, time_zone: str = "UTC") -> Self:
        """Open around the clock: business time is real time."""
        return cls(time_zone=time_zone, intervals={day: ["00:00-24:00"] for day in WEEKDAYS})

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("intervals")
    @classmethod
    def _valid_intervals(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        by_day = {day: _sorted_day(day, value[day]) for day in WEEKDAYS if day in value}
        if not any(by_day.values()):
            raise ValueError("business hours need at least one interval in the week")
        return by_day

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant (UTC) at which `business` of business time has passed since `start`.

        The clock starts at the next opening when `start` is closed. A target reached exactly
        at a closing time is due then, not at the next opening; a zero target is due at the
        first business instant at or after `start`."""
        if business < NO_TIME:
            raise ValueError(f"business time to add must not be negative, not {business}")
        start = _utc(start)
        if self._always_open:
            return start + business
        remaining = business
        for opens, closes in self._spans_from(start):
            begin = max(opens, start)
            if remaining <= closes - begin:
                return begin + remaining
            remaining -= closes - begin
        raise AssertionError("unreachable: _spans_from either yields forever or raises")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time within [start, end)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return NO_TIME
        if self._always_open:
            return end - start
        total = NO_TIME
        for opens, closes in self._spans_from(start, until=end):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total

    def is_open(self, at: datetime) -> bool:
        at = _utc(at)
        if self._always_open:
            return True
        day = self._local_date(at)
        return any(
            opens <= at < closes
            for nearby in (day - ONE_DAY, day, day + ONE_DAY)  # as in _spans_from
            for opens, closes in self._spans_on(nearby)
        )

    def next_open(self, at: datetime) -> datetime:
        """The first business instant at or after `at` (UTC)."""
        return self.add(at, NO_TIME)

    def _spans_from(self, start: datetime, *, until: datetime | None = None) -> Iterator[Span]:
        """The open spans that end after `start`, in order: up to `until`'s local day when it is
        given; endlessly otherwise, raising after HORIZON_DAYS in a row without any."""
        day = self._local_date(start) - ONE_DAY  # with a midnight shown twice, days overlap
        last = None if until is None else self._local_date(until) + ONE_DAY
        closed_days = 0
        while last is None or day <= last:
            spans = self._spans_on(day)
            yield from (span for span in spans if span[1] > start)
            closed_days = 0 if spans else closed_days + 1
            if last is None and closed_days > HORIZON_DAYS:
                raise ValueError(
                    f"no business hours in the {HORIZON_DAYS} days up to {day} in "
                    f"{self.time_zone}: are all the open days holidays?"
                )
            day += ONE_DAY

    def _spans_on(self, day: date) -> list[Span]:
        if day in self._holidays:
            return []
        spans = (
            (_instant(self._zone, day, start), _instant(self._zone, day, end))
            for start, end in self._week[day.weekday()]
        )
        return [(opens, closes) for opens, closes in spans if opens < closes]  # a gap may empty one

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()

    @functools.cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @functools.cached_property
    def _holidays(self) -> frozenset[date]:
        return frozenset(self.holidays)

    @functools.cached_property
    def _week(self) -> tuple[tuple[Minutes, ...], ...]:
        """Each weekday's intervals in minutes, touching ones merged (they resolve to the same
        instant, so merging changes nothing but the work)."""
        return tuple(
            _merged([_minutes(text) for text in self.intervals.get(day, [])]) for day in WEEKDAYS
        )

    @functools.cached_property
    def _always_open(self) -> bool:
        return not self.holidays and all(day == ((0, MINUTES_A_DAY),) for day in self._week)


def _sorted_day(day: Weekday, texts: list[str]) -> list[str]:
    """The day's intervals sorted, each checked, none overlapping."""
    checked = sorted((_checked_minutes(day, text), text) for text in texts)
    for (earlier, earlier_text), (later, later_text) in itertools.pairwise(checked):
        if later[0] < earlier[1]:
            raise ValueError(f"business hours on {day}: {earlier_text} overlaps {later_text}")
    return [text for _, text in checked]


def _checked_minutes(day: Weekday, text: str) -> Minutes:
    match = _INTERVAL.match(text)
    if match is None:
        raise ValueError(f"business hours on {day}: {text!r} is not HH:MM-HH:MM")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or end_h > 24 or start_m > 59 or end_m > 59 or (end_h == 24 and end_m):
        raise ValueError(f"business hours on {day}: {text} is no time of day (00:00 to 24:00)")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start >= end:
        raise ValueError(f"business hours on {day}: {text} must start before it ends")
    return start, end


def _minutes(text: str) -> Minutes:
    start, end = text.split("-")
    return _minute_of(start), _minute_of(end)


def _minute_of(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _merged(intervals: list[Minutes]) -> tuple[Minutes, ...]:
    merged: list[Minutes] = []
    for start, end in intervals:  # sorted and not overlapping: validated
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _utc(at: datetime) -> datetime:
    if at.utcoffset() is None:
        raise ValueError(f"business time needs timezone-aware datetimes, not {at.isoformat()}")
    return at.astimezone(UTC)


def _instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """The UTC instant of a local wall time ("24:00" being the next midnight): its first
    occurrence when the clocks show it twice, the instant they skip it when they never do."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    before = wall.replace(tzinfo=zone).utcoffset() or NO_TIME  # fold=0: before a change
    after = wall.replace(tzinfo=zone, fold=1).utcoffset() or NO_TIME  # (a zone has offsets)
    if before >= after:  # no change, or clocks set back: the larger offset is the first
        return (wall - before).replace(tzinfo=UTC)
    return _skipped_at(zone, wall)


def _skipped_at(zone: ZoneInfo, wall: datetime) -> datetime:
    """The instant the clocks jumped over `wall`: the first whose wall time is past it.

    Read with the offsets before and after the jump, `wall` gives one instant either side of
    it; a bisection on whole seconds (time zone transitions fall on whole seconds) finds it."""
    either_side = [int(wall.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1)]
    before, after = min(either_side), max(either_side)
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


ALWAYS_OPEN = BusinessHours.always_open()  # 24x7 in UTC, no holidays
