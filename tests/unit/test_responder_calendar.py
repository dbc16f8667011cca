"""Business calendars: opening hours, holidays and daylight saving, counted exactly."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.responder.sla.calendar import (
    ALWAYS_OPEN,
    WEEKDAYS,
    BusinessHours,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NATIONAL_DAY = date(2026, 10, 1)  # a Thursday
OFFICE = BusinessHours(
    time_zone="Asia/Shanghai",
    intervals={day: ["09:00-12:00", "13:30-18:00"] for day in WEEKDAYS[:5]},
    holidays=[NATIONAL_DAY],
)
MICROSECOND = timedelta(microseconds=1)
ONE_DAY = timedelta(days=1)
NO_TIME = timedelta(0)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def on_sundays(*intervals: str, time_zone: str = "Europe/Paris") -> BusinessHours:
    return BusinessHours(time_zone=time_zone, intervals={"sun": list(intervals)})


class TestValidation:
    def test_an_unknown_time_zone_is_refused_by_name(self) -> None:
        with pytest.raises(ValidationError, match="unknown IANA time zone 'Mars/Olympus'"):
            BusinessHours(time_zone="Mars/Olympus", intervals={"mon": ["09:00-18:00"]})

    @pytest.mark.parametrize(
        ("interval", "reason"),
        [
            ("9:00-18:00", "is not HH:MM-HH:MM"),
            ("09:00 - 18:00", "is not HH:MM-HH:MM"),
            ("09:00-24:30", "is no time of day"),
            ("24:00-24:00", "is no time of day"),
            ("09:60-10:00", "is no time of day"),
            ("18:00-09:00", "must start before it ends"),
            ("09:00-09:00", "must start before it ends"),
        ],
    )
    def test_a_bad_interval_is_refused_naming_the_day_and_interval(
        self, interval: str, reason: str
    ) -> None:
        with pytest.raises(ValidationError, match=f"business hours on tue: .*{reason}"):
            BusinessHours(time_zone="UTC", intervals={"tue": [interval]})

    def test_overlapping_intervals_are_refused_naming_both(self) -> None:
        with pytest.raises(ValidationError, match="on wed: 09:00-12:00 overlaps 11:30-13:00"):
            BusinessHours(time_zone="UTC", intervals={"wed": ["11:30-13:00", "09:00-12:00"]})

    def test_a_week_without_business_hours_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="at least one interval in the week"):
            BusinessHours(time_zone="UTC", intervals={"mon": [], "tue": []})

    def test_an_unknown_weekday_or_field_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="monday"):
            BusinessHours.model_validate(
                {"time_zone": "UTC", "intervals": {"monday": ["09:00-18:00"]}}
            )
        with pytest.raises(ValidationError, match="lunch"):
            BusinessHours.model_validate(
                {"time_zone": "UTC", "intervals": {"mon": ["09:00-18:00"]}, "lunch": "12:00"}
            )

    def test_intervals_are_kept_sorted_and_may_touch_and_end_at_midnight(self) -> None:
        hours = BusinessHours(
            time_zone="UTC", intervals={"fri": ["18:00-24:00", "00:00-09:00", "09:00-12:00"]}
        )
        assert hours.intervals == {"fri": ["00:00-09:00", "09:00-12:00", "18:00-24:00"]}

    def test_times_must_be_timezone_aware(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            OFFICE.add(datetime(2026, 3, 6, 9), minutes(10))

    def test_a_negative_target_is_refused(self) -> None:
        with pytest.raises(ValueError, match="must not be negative"):
            OFFICE.add(shanghai(2026, 3, 6, 9), -minutes(1))

    def test_a_calendar_whose_open_days_are_all_holidays_raises_instead_of_looping(self) -> None:
        first_of_may = BusinessHours(
            time_zone="UTC", intervals={"fri": ["09:00-18:00"]}, holidays=[date(2026, 5, 1)]
        )
        start = datetime(2026, 4, 25, tzinfo=UTC)
        assert first_of_may.add(start, minutes(1)) == datetime(2026, 5, 8, 9, 1, tzinfo=UTC)
        fridays = [date(2026, 1, 2) + timedelta(weeks=n) for n in range(60)]  # 420 days
        never = BusinessHours(time_zone="UTC", intervals={"fri": ["09:00-18:00"]}, holidays=fridays)
        with pytest.raises(ValueError, match="no business hours in the 400 days"):
            never.add(datetime(2026, 1, 1, tzinfo=UTC), minutes(1))
        closed_415_days = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 2, 20, tzinfo=UTC))
        assert never.between(*closed_415_days) == NO_TIME  # a bounded question has its answer


class TestShanghaiOffice:
    def test_a_message_late_on_friday_is_due_early_on_monday(self) -> None:
        due = OFFICE.add(shanghai(2026, 3, 6, 17, 55), minutes(10))
        assert due == shanghai(2026, 3, 9, 9, 5)
        assert due.tzinfo is UTC

    def test_the_lunch_break_does_not_count(self) -> None:
        assert OFFICE.add(shanghai(2026, 3, 9, 11, 55), minutes(10)) == shanghai(2026, 3, 9, 13, 35)
        assert OFFICE.between(shanghai(2026, 3, 9, 11), shanghai(2026, 3, 9, 14)) == minutes(90)

    def test_a_holiday_is_skipped(self) -> None:
        assert OFFICE.add(shanghai(2026, 9, 30, 17, 55), minutes(10)) == shanghai(2026, 10, 2, 9, 5)
        assert OFFICE.between(shanghai(2026, 10, 1), shanghai(2026, 10, 2)) == NO_TIME

    def test_a_message_at_night_starts_its_clock_at_the_opening(self) -> None:
        assert OFFICE.add(shanghai(2026, 3, 9, 3, 0), minutes(10)) == shanghai(2026, 3, 9, 9, 10)

    def test_a_target_met_at_closing_time_is_due_then(self) -> None:
        assert OFFICE.add(shanghai(2026, 3, 9, 17, 50), minutes(10)) == shanghai(2026, 3, 9, 18)

    def test_a_zero_target_is_due_at_the_next_opening(self) -> None:
        assert OFFICE.add(shanghai(2026, 3, 9, 12, 0), NO_TIME) == shanghai(2026, 3, 9, 13, 30)
        assert OFFICE.add(shanghai(2026, 3, 9, 10, 0), NO_TIME) == shanghai(2026, 3, 9, 10, 0)
        assert OFFICE.next_open(shanghai(2026, 3, 7, 10)) == shanghai(2026, 3, 9, 9)

    def test_open_and_closed(self) -> None:
        assert OFFICE.is_open(shanghai(2026, 3, 9, 9))
        assert not OFFICE.is_open(shanghai(2026, 3, 9, 12))  # intervals end before their end
        assert not OFFICE.is_open(shanghai(2026, 3, 7, 10))  # a Saturday
        assert not OFFICE.is_open(shanghai(2026, 10, 1, 10))

    def test_a_target_of_weeks_walks_the_calendar_by_days(self) -> None:
        a_business_week = timedelta(hours=7.5 * 5)
        assert OFFICE.add(shanghai(2026, 3, 9, 9), 3 * a_business_week) == shanghai(2026, 3, 27, 18)
        assert OFFICE.between(shanghai(2026, 3, 9), shanghai(2026, 3, 30)) == 3 * a_business_week

    def test_times_in_other_zones_are_read_as_the_instants_they_are(self) -> None:
        friday_late = datetime(2026, 3, 6, 9, 55, tzinfo=UTC)  # 17:55 in Shanghai
        assert OFFICE.add(friday_late, minutes(10)) == datetime(2026, 3, 9, 1, 5, tzinfo=UTC)


class TestDaylightSaving:
    def test_an_interval_across_the_spring_jump_is_an_hour_shorter(self) -> None:
        small_hours = on_sundays("00:00-06:00")
        saturday = datetime(2026, 3, 28, tzinfo=PARIS)
        assert small_hours.between(saturday, saturday + 2 * ONE_DAY) == timedelta(hours=5)
        due = small_hours.add(saturday, timedelta(hours=4))
        assert due == datetime(2026, 3, 29, 5, tzinfo=PARIS)  # 02:00-03:00 never happened

    def test_an_interval_across_the_autumn_fall_back_is_an_hour_longer(self) -> None:
        small_hours = on_sundays("00:00-06:00")
        saturday = datetime(2026, 10, 24, tzinfo=PARIS)
        assert small_hours.between(saturday, saturday + 2 * ONE_DAY) == timedelta(hours=7)
        due = small_hours.add(saturday, timedelta(hours=4))
        assert due == datetime(2026, 10, 25, 3, tzinfo=PARIS)  # 02:00-03:00 happened twice

    def test_a_skipped_wall_time_opens_when_the_clocks_jump(self) -> None:
        hours = on_sundays("02:30-04:00")
        opens = hours.next_open(datetime(2026, 3, 28, tzinfo=PARIS))
        assert opens == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 03:00 CEST
        assert hours.between(opens, opens + ONE_DAY) == timedelta(hours=1)

    def test_an_interval_inside_the_skipped_hour_has_no_business_time(self) -> None:
        hours = on_sundays("02:15-02:45", "10:00-11:00")
        opens = hours.next_open(datetime(2026, 3, 28, tzinfo=PARIS))
        assert opens == datetime(2026, 3, 29, 10, tzinfo=PARIS)

    def test_a_repeated_wall_time_means_its_first_occurrence(self) -> None:
        hours = on_sundays("00:00-02:30", "02:30-05:00")
        first_half_past_two = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
        assert hours.is_open(first_half_past_two)
        sunday = datetime(2026, 10, 25, tzinfo=PARIS)
        assert hours.between(sunday, first_half_past_two) == timedelta(hours=2, minutes=30)
        assert hours.between(first_half_past_two, sunday + ONE_DAY) == timedelta(
            hours=3, minutes=30
        )

    def test_the_repeated_hour_counts_only_in_an_interval_running_past_its_end(self) -> None:
        sunday = datetime(2026, 11, 1, tzinfo=NEW_YORK)  # 02:00 EDT falls back to 01:00 EST
        early = on_sundays("01:00-01:30", time_zone="America/New_York")
        assert early.between(sunday, sunday + ONE_DAY) == minutes(30)
        assert early.is_open(datetime(2026, 11, 1, 5, 10, tzinfo=UTC))  # 01:10 EDT
        assert not early.is_open(datetime(2026, 11, 1, 6, 10, tzinfo=UTC))  # 01:10 EST
        past_it = on_sundays("01:45-02:00", time_zone="America/New_York")
        assert past_it.between(sunday, sunday + ONE_DAY) == minutes(75)  # 01:45 EDT to 02:00 EST

    def test_office_hours_keep_their_wall_times_across_the_change(self) -> None:
        hours = BusinessHours(time_zone="America/New_York", intervals={"fri": ["09:00-17:00"]})
        due = hours.add(datetime(2026, 3, 6, 16, 55, tzinfo=NEW_YORK), minutes(10))  # EST
        assert due == datetime(2026, 3, 13, 9, 5, tzinfo=NEW_YORK)  # EDT since March 8
        assert due.utcoffset() == NO_TIME
        assert due.hour == 13  # 09:05 EDT, one hour earlier in UTC than in winter


ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Asia/Kathmandu",  # +05:45
]
# Half hours make the sparsest week open 30 minutes, which bounds how far targets walk.
day_hours = st.lists(st.integers(0, 48), min_size=2, max_size=6, unique=True).map(
    lambda points: [f"{_hhmm(start)}-{_hhmm(end)}" for start, end in _pairs(sorted(points))]
)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessHours:
    """Some weekdays open, each with one of two day's hours; a few holidays."""
    hours = (draw(day_hours), draw(day_hours))
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    pattern = draw(st.lists(st.booleans(), min_size=len(days), max_size=len(days)))
    holidays = draw(st.lists(st.dates(date(2026, 2, 20), date(2026, 12, 10)), max_size=4))
    return BusinessHours(
        time_zone=draw(st.sampled_from(ZONES)),
        intervals={day: hours[second] for day, second in zip(days, pattern, strict=True)},
        holidays=holidays,
    )


def _pairs(points: list[int]) -> list[tuple[int, int]]:
    return list(zip(points[::2], points[1::2], strict=False))


def _hhmm(half_hours: int) -> str:
    return f"{half_hours // 2:02d}:{half_hours % 2 * 30:02d}"


def _around(first: datetime, last: datetime) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=first, max_value=last, timezones=st.just(UTC))


# The weeks around the zones' daylight-saving changes (Lord Howe's: April 5 and October 4).
instants = _around(datetime(2026, 3, 1), datetime(2026, 4, 12)) | _around(
    datetime(2026, 9, 27), datetime(2026, 11, 8)
)
gaps = st.timedeltas(min_value=NO_TIME, max_value=timedelta(days=10))
targets = st.timedeltas(min_value=NO_TIME, max_value=timedelta(hours=30))
positive_targets = st.timedeltas(min_value=MICROSECOND, max_value=timedelta(hours=30))


class TestInvariants:
    @settings(max_examples=200)
    @given(calendars(), instants, targets)
    def test_the_business_time_up_to_a_deadline_is_its_target(
        self, hours: BusinessHours, start: datetime, target: timedelta
    ) -> None:
        assert hours.between(start, hours.add(start, target)) == target

    @settings(max_examples=200)
    @given(calendars(), instants, positive_targets)
    def test_a_deadline_is_the_first_instant_the_target_is_met_and_falls_in_business_time(
        self, hours: BusinessHours, start: datetime, target: timedelta
    ) -> None:
        due = hours.add(start, target)
        assert hours.is_open(due - MICROSECOND)  # open up to it: at it, or at a closing time
        assert hours.between(start, due - MICROSECOND) == target - MICROSECOND

    @settings(max_examples=200)
    @given(calendars(), instants)
    def test_a_zero_target_is_due_at_the_first_open_instant(
        self, hours: BusinessHours, start: datetime
    ) -> None:
        due = hours.add(start, NO_TIME)
        assert due >= start
        assert hours.is_open(due)
        assert hours.between(start, due) == NO_TIME
        assert hours.next_open(start) == due

    @settings(max_examples=200)
    @given(calendars(), instants, targets, targets)
    def test_deadlines_grow_with_the_target(
        self, hours: BusinessHours, start: datetime, one: timedelta, other: timedelta
    ) -> None:
        shorter, longer = sorted([one, other])
        assert hours.add(start, shorter) <= hours.add(start, longer)

    @settings(max_examples=200)
    @given(calendars(), instants, gaps, targets)
    def test_deadlines_grow_with_the_start(
        self, hours: BusinessHours, start: datetime, delay: timedelta, target: timedelta
    ) -> None:
        assert hours.add(start, target) <= hours.add(start + delay, target)

    @settings(max_examples=200)
    @given(calendars(), instants, targets, positive_targets)
    def test_adding_in_two_steps_is_adding_the_sum(
        self, hours: BusinessHours, start: datetime, first: timedelta, second: timedelta
    ) -> None:
        """The second step is positive: a zero one would move a closing time to the opening."""
        assert hours.add(hours.add(start, first), second) == hours.add(start, first + second)

    @settings(max_examples=200)
    @given(calendars(), instants, gaps, gaps)
    def test_business_time_is_additive(
        self, hours: BusinessHours, a: datetime, a_to_b: timedelta, b_to_c: timedelta
    ) -> None:
        b = a + a_to_b
        c = b + b_to_c
        assert hours.between(a, c) == hours.between(a, b) + hours.between(b, c)
        assert hours.between(c, a) == NO_TIME

    @settings(max_examples=200)
    @given(calendars(), instants)
    def test_open_means_the_next_microsecond_is_business_time(
        self, hours: BusinessHours, at: datetime
    ) -> None:
        assert hours.is_open(at) == (hours.between(at, at + MICROSECOND) == MICROSECOND)

    @settings(max_examples=200)
    @given(st.sampled_from(ZONES), instants, st.timedeltas(NO_TIME, timedelta(days=60)))
    def test_an_always_open_calendar_counts_real_time_in_any_zone(
        self, time_zone: str, start: datetime, target: timedelta
    ) -> None:
        for hours in (ALWAYS_OPEN, BusinessHours.always_open(time_zone)):
            assert hours.add(start, target) == start + target
            assert hours.between(start, start + target) == target
            assert hours.is_open(start)

    @settings(max_examples=100)
    @given(st.sampled_from(ZONES), instants, st.timedeltas(NO_TIME, timedelta(days=3)))
    def test_a_calendar_open_around_the_clock_by_halves_counts_real_time_too(
        self, time_zone: str, start: datetime, target: timedelta
    ) -> None:
        """The same week written in two intervals a day: the walk, not the shortcut."""
        halves = {day: ["00:00-12:00", "12:00-24:00"] for day in WEEKDAYS}
        hours = BusinessHours(time_zone=time_zone, intervals=halves, holidays=[date(1999, 1, 1)])
        assert hours.add(start, target) == start + target
        assert hours.between(start, start + target) == target
