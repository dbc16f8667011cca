"""Engagement: forward decay, daily caps per kind, and folding old days."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.scores.engagement import (
    INTERACTION_KINDS,
    EngagementPolicy,
    EngagementState,
    InteractionKind,
    apply_interaction,
    engagement_numerator,
    engagement_score,
)
from services.scoring.scores.forward_decay import LANDMARK, decayed_value, forward_units

NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)
POLICY = EngagementPolicy()  # half-life 14 days, message 3 points, cap 20 messages a day
SMALL_CAPS = EngagementPolicy(daily_caps=dict.fromkeys(INTERACTION_KINDS, 2), fold_after_days=2)

Interaction = tuple[InteractionKind, datetime]


def applied(interactions: list[Interaction], policy: EngagementPolicy = POLICY) -> EngagementState:
    state = EngagementState()
    for kind, at in interactions:
        state = apply_interaction(state, kind, at, policy)
    return state


def times(count: int, kind: InteractionKind, at: datetime) -> list[Interaction]:
    return [(kind, at)] * count


def points(state: EngagementState, at: datetime, policy: EngagementPolicy = POLICY) -> Decimal:
    return engagement_score(state, policy, at=at).total


def within_days(days: int) -> st.SearchStrategy[Interaction]:
    """Interactions on at most `days` consecutive UTC days."""
    seconds = st.integers(min_value=0, max_value=days * 86_400 - 1)
    return st.tuples(
        st.sampled_from(INTERACTION_KINDS),
        seconds.map(lambda s: datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=s)),
    )


class TestForwardDecay:
    def test_an_interaction_is_worth_its_weight_when_it_happens(self) -> None:
        assert points(applied([("message", NOON)]), NOON) == Decimal("3.00")

    def test_its_worth_halves_every_half_life(self) -> None:
        state = applied([("message", NOON)])
        assert points(state, NOON + timedelta(days=14)) == Decimal("1.50")
        assert points(state, NOON + timedelta(days=28)) == Decimal("0.75")

    def test_the_numerator_read_at_a_time_is_the_score(self) -> None:
        state = applied([("message", NOON), ("share", NOON - timedelta(days=5))])
        numerator = engagement_numerator(state, POLICY)
        at = NOON + timedelta(days=2)
        read = decayed_value(numerator, at, POLICY.half_life)
        assert read == pytest.approx(float(points(state, at)), abs=0.01)

    def test_sums_stay_exact_and_readable_far_from_the_landmark(self) -> None:
        far = LANDMARK + timedelta(days=365 * 40)
        policy = EngagementPolicy(half_life_days=1)
        state = applied([("message", far)], policy)
        assert engagement_numerator(state, policy).bit_length() > 14_000
        assert points(state, far, policy) == Decimal("3.00")

    def test_interactions_before_the_landmark_still_count(self) -> None:
        before = LANDMARK - timedelta(days=100)
        assert forward_units(before, POLICY.half_life) > 0
        assert points(applied([("message", before)]), before) == Decimal("3.00")

    @settings(max_examples=200)
    @given(st.lists(within_days(3), max_size=40), st.data())
    def test_the_state_does_not_depend_on_the_order_of_arrival(
        self, log: list[Interaction], data: st.DataObject
    ) -> None:
        shuffled = data.draw(st.permutations(log))
        assert applied(shuffled, SMALL_CAPS) == applied(log, SMALL_CAPS)

    @settings(max_examples=100)
    @given(st.lists(within_days(3), min_size=1, max_size=8), st.data())
    def test_the_state_is_a_function_of_the_multiset_duplicates_included(
        self, pool: list[Interaction], data: st.DataObject
    ) -> None:
        log = data.draw(st.lists(st.sampled_from(pool), max_size=30))
        shuffled = data.draw(st.permutations(log))
        assert applied(shuffled, SMALL_CAPS) == applied(log, SMALL_CAPS)

    def test_applying_the_same_interaction_twice_counts_it_twice(self) -> None:
        """De-duplication is the caller's: it claims each event id before applying it."""
        once, twice = applied([("reaction", NOON)]), applied(times(2, "reaction", NOON))
        assert points(twice, NOON) == 2 * points(once, NOON)


class TestDailyCaps:
    def test_a_flood_of_one_kind_counts_no_more_than_its_cap(self) -> None:
        state = applied(times(25, "message", NOON))
        assert points(state, NOON) == Decimal("60.00")  # 20 messages of 3 points

    def test_each_kind_has_its_own_cap(self) -> None:
        state = applied(times(25, "message", NOON) + times(25, "comment", NOON))
        score = engagement_score(state, POLICY, at=NOON)
        assert score.component("message") == Decimal("60.00")
        assert score.component("comment") == Decimal("20.00")  # 10 comments of 2 points

    def test_the_cap_starts_again_each_utc_day(self) -> None:
        next_day = NOON + timedelta(days=1)
        state = applied(times(25, "message", NOON) + times(5, "message", next_day))
        expected = 60 * 2 ** (-1 / 14) + 15
        assert float(points(state, next_day)) == pytest.approx(expected, abs=0.01)

    def test_an_over_cap_day_counts_each_interaction_at_cap_over_count(self) -> None:
        early, late = NOON - timedelta(hours=11), NOON + timedelta(hours=11)
        state = applied(times(20, "message", early) + times(20, "message", late))
        uncapped = 20 * 3 * (2 ** (-22 / (14 * 24)) + 1)  # 22 hours apart
        assert float(points(state, late)) == pytest.approx(uncapped / 2, abs=0.01)

    def test_interactions_under_the_cap_count_in_full(self) -> None:
        assert points(applied(times(5, "share", NOON)), NOON) == Decimal("25.00")


class TestFolding:
    def test_days_before_the_horizon_are_folded_and_keep_their_cap(self) -> None:
        flood = times(25, "message", NOON)
        later = NOON + timedelta(days=POLICY.fold_after_days + 1)
        state = applied([*flood, ("reaction", later)])
        assert list(state.days) == [later.date()]
        assert points(state, NOON) == Decimal("60.00") + points(
            applied([("reaction", later)]), NOON
        )

    def test_the_state_stays_bounded_however_long_the_history(self) -> None:
        state = applied([("message", NOON + timedelta(days=day)) for day in range(400)])
        assert len(state.days) == POLICY.fold_after_days + 1

    def test_an_interaction_older_than_the_horizon_when_it_arrives_counts_uncapped(self) -> None:
        later = NOON + timedelta(days=10)
        state = applied([("reaction", later), *times(25, "message", NOON)])
        without = applied([("reaction", later)])
        late_points = points(state, NOON) - points(without, NOON)
        assert late_points == Decimal("75.00")  # 25 messages of 3, no cap
        assert list(state.days) == [later.date()]

    def test_on_time_the_same_interactions_are_capped(self) -> None:
        later = NOON + timedelta(days=10)
        state = applied([*times(25, "message", NOON), ("reaction", later)])
        without = applied([("reaction", later)])
        assert points(state, NOON) - points(without, NOON) == Decimal("60.00")


class TestWeights:
    def test_weights_apply_when_the_state_is_read_so_a_change_applies_to_the_past(self) -> None:
        state = applied(times(4, "reaction", NOON))
        heavier = EngagementPolicy(weights={"reaction": 2.5})
        assert points(state, NOON, heavier) == Decimal("10.00")

    def test_a_kind_weighted_zero_does_not_count(self) -> None:
        state = applied([("follow", NOON)])
        assert points(state, NOON, EngagementPolicy(weights={"follow": 0})) == Decimal("0.00")

    def test_ranking_by_numerator_is_ranking_by_score_at_any_time(self) -> None:
        fans = [
            applied(times(8, "message", NOON - timedelta(days=30))),
            applied([("reaction", NOON)]),
            applied([("share", NOON - timedelta(days=3)), ("comment", NOON)]),
        ]
        by_numerator = sorted(fans, key=lambda fan: engagement_numerator(fan, POLICY))
        for days in (0, 7, 60):
            at = NOON + timedelta(days=days)
            assert sorted(fans, key=lambda fan: points(fan, at)) == by_numerator
