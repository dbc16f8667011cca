"""Lifecycle stages move with time, whether or not the fan does anything."""

from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.scores.lifecycle import LifecyclePolicy, lifecycle_stage

FIRST_SEEN = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = LifecyclePolicy()  # new 7 days, active 30, lapsed after 90


def stage(*, last_active_day: int, today: int) -> str:
    return lifecycle_stage(
        first_seen=FIRST_SEEN,
        last_active=FIRST_SEEN + timedelta(days=last_active_day),
        now=FIRST_SEEN + timedelta(days=today),
        policy=POLICY,
    )


class TestLifecycle:
    def test_a_fan_who_does_nothing_after_the_first_day_goes_through_every_stage(self) -> None:
        stages = [stage(last_active_day=0, today=day) for day in (0, 6, 7, 30, 31, 90, 91, 400)]
        assert stages == [
            "new",
            "new",
            "active",
            "active",
            "at_risk",
            "at_risk",
            "lapsed",
            "lapsed",
        ]

    def test_activity_brings_a_lapsed_fan_back_to_active(self) -> None:
        assert stage(last_active_day=0, today=200) == "lapsed"
        assert stage(last_active_day=200, today=200) == "active"

    def test_a_fan_stays_new_for_new_days_however_active(self) -> None:
        assert stage(last_active_day=6, today=6) == "new"

    def test_a_clock_behind_the_first_event_still_says_new(self) -> None:
        assert stage(last_active_day=0, today=-1) == "new"

    def test_thresholds_are_configurable(self) -> None:
        policy = LifecyclePolicy(new_days=1, active_days=3, lapsed_days=10)
        now = FIRST_SEEN + timedelta(days=5)
        assert (
            lifecycle_stage(first_seen=FIRST_SEEN, last_active=FIRST_SEEN, now=now, policy=policy)
            == "at_risk"
        )


class TestLifecyclePolicy:
    def test_active_days_must_be_less_than_lapsed_days(self) -> None:
        with pytest.raises(ValueError, match="must be less than lapsed_days"):
            LifecyclePolicy(active_days=90, lapsed_days=90)

    def test_days_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="greater than 0"):
            LifecyclePolicy(new_days=0)
