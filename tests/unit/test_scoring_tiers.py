"""Participation tiers: cut points from a brand's engagement numerators, and a fan's tier."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.scores.engagement import (
    EngagementPolicy,
    EngagementState,
    apply_interaction,
    engagement_numerator,
)
from services.scoring.scores.quantiles import bands_above, cut_points
from services.scoring.scores.tiers import TierCutPoints, TierPolicy, tier, tier_cut_points

DEFAULT = TierPolicy()


def tiers_of(values: list[int], policy: TierPolicy = DEFAULT) -> Counter[str]:
    cuts = tier_cut_points(values, policy)
    return Counter(tier(value, cuts) for value in values)


class TestDefaultSplit:
    def test_a_large_brand_splits_20_75_5_with_leaders_the_top_1_percent_of_frequent(
        self,
    ) -> None:
        rng = random.Random(20260301)
        values = [int(rng.lognormvariate(40, 3)) for _ in range(200_000)]
        counts = tiers_of(values)
        share = {name: count / len(values) for name, count in counts.items()}
        assert share["silent"] == pytest.approx(0.20, abs=0.001)
        assert share["occasional"] == pytest.approx(0.75, abs=0.001)
        assert share["frequent"] + share["leader"] == pytest.approx(0.05, abs=0.001)
        assert share["leader"] == pytest.approx(0.0005, abs=0.0001)
        top = counts["frequent"] + counts["leader"]
        assert counts["leader"] / top == pytest.approx(0.01, abs=0.002)

    def test_fans_who_never_interacted_are_all_silent_however_many(self) -> None:
        values = [0] * 600 + list(range(1, 401))
        counts = tiers_of(values)
        # the top 5% of 1000 stay frequent; the rest of the active fans are occasional; 0.05%
        # of 1000 is half a fan, so nobody leads yet
        assert counts == {"silent": 600, "occasional": 350, "frequent": 50}

    def test_other_fractions_give_other_splits(self) -> None:
        policy = TierPolicy(cut_fractions=(0.5, 0.9, 0.99))
        counts = tiers_of(list(range(1000)), policy)
        assert counts == {"silent": 500, "occasional": 400, "frequent": 90, "leader": 10}


class TestSmallBrands:
    def test_a_brand_without_fans_has_no_cut_points_and_everyone_is_silent(self) -> None:
        cuts = tier_cut_points([], DEFAULT)
        assert cuts == TierCutPoints()
        assert tier(10**30, cuts) == "silent"

    def test_a_brand_of_one_fan_keeps_them_silent_until_there_are_others(self) -> None:
        assert tiers_of([12345]) == {"silent": 1}

    def test_in_a_brand_of_twenty_the_top_fan_is_frequent_and_nobody_leads(self) -> None:
        counts = tiers_of(list(range(1, 21)))
        assert counts == {"silent": 4, "occasional": 15, "frequent": 1}


class TestTier:
    cuts = TierCutPoints(occasional=10, frequent=100, leader=1000)

    @pytest.mark.parametrize(
        ("numerator", "expected"),
        [
            (0, "silent"),
            (10, "silent"),
            (11, "occasional"),
            (100, "occasional"),
            (101, "frequent"),
            (1000, "frequent"),
            (1001, "leader"),
        ],
    )
    def test_a_fan_must_be_strictly_above_a_cut_point_to_reach_its_tier(
        self, numerator: int, expected: str
    ) -> None:
        assert tier(numerator, self.cuts) == expected

    def test_cut_points_kept_in_numerator_space_stay_valid_as_time_passes(self) -> None:
        """Nobody's numerator changes while nobody interacts: neither do the tiers."""
        policy = EngagementPolicy()
        start = datetime(2026, 1, 1, tzinfo=UTC)
        states = [EngagementState() for _ in range(50)]
        for fan, state in enumerate(states):
            for day in range(fan):
                state = apply_interaction(state, "reaction", start + timedelta(days=day), policy)
            states[fan] = state
        numerators = [engagement_numerator(state, policy) for state in states]
        cuts = tier_cut_points(numerators, DEFAULT)
        assert [tier(n, cuts) for n in numerators][:10] == ["silent"] * 10
        assert tier(numerators[-1], cuts) == "frequent"


class TestQuantiles:
    def test_each_cut_point_has_at_least_its_fraction_at_or_below_it(self) -> None:
        assert cut_points(range(1, 101), (0.2, 0.95)) == (20, 95)

    def test_floating_point_fractions_do_not_shift_a_rank(self) -> None:
        assert cut_points(range(1, 11), (0.3, 0.7)) == (3, 7)

    def test_no_values_no_cut_points(self) -> None:
        assert cut_points([], (0.5,)) is None

    def test_bands_above_counts_the_cut_points_strictly_below(self) -> None:
        assert [bands_above(value, (1, 1, 5, 9)) for value in (0, 1, 2, 9, 10)] == [0, 0, 2, 3, 4]


class TestTierPolicy:
    @pytest.mark.parametrize(
        "fractions", [(0.2, 0.2, 0.9), (0.0, 0.5, 0.9), (0.2, 0.95, 1.0), (0.9, 0.5, 0.99)]
    )
    def test_cut_fractions_must_increase_within_0_and_1(
        self, fractions: tuple[float, float, float]
    ) -> None:
        with pytest.raises(ValueError, match="must increase within"):
            TierPolicy(cut_fractions=fractions)
