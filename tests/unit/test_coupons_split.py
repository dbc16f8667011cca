"""The red-packet split and the packet total rule: shares sum exactly to the total, each is at
least the minimum and within the double-mean bound, and the same seed gives the same shares."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.coupons.domain import (
    SplitError,
    add_across,
    best_luck,
    draw_across,
    equal_split,
    lucky_split,
    share_bound,
    slice_budget,
)
from services.coupons.terms import CampaignTerms, FixedTotal, OrderShare, packet_total


@st.composite
def packets(draw: st.DrawFn) -> tuple[int, int, int]:
    """(total, shares, minimum) that can be split."""
    shares = draw(st.integers(1, 200))
    minimum = draw(st.integers(1, 500))
    total = draw(st.integers(shares * minimum, shares * minimum + 10_000_000))
    return total, shares, minimum


class TestLuckySplit:
    @given(packets(), st.integers(0, 2**32))
    def test_shares_sum_to_the_total_each_at_least_the_minimum(
        self, packet: tuple[int, int, int], seed: int
    ) -> None:
        total, shares, minimum = packet
        amounts = lucky_split(total, shares, minimum=minimum, rng=random.Random(seed))
        assert len(amounts) == shares
        assert sum(amounts) == total
        assert min(amounts) >= minimum

    @given(packets(), st.integers(0, 2**32))
    def test_each_share_but_the_last_is_within_the_double_mean_bound(
        self, packet: tuple[int, int, int], seed: int
    ) -> None:
        total, shares, minimum = packet
        amounts = lucky_split(total, shares, minimum=minimum, rng=random.Random(seed))
        left = total
        for index, amount in enumerate(amounts[:-1]):
            shares_left = shares - index
            assert minimum <= amount <= share_bound(left, shares_left, minimum)
            assert amount <= 2 * left // shares_left
            left -= amount
        assert amounts[-1] == left

    @given(packets(), st.integers(0, 2**32))
    def test_the_same_seed_gives_the_same_shares(
        self, packet: tuple[int, int, int], seed: int
    ) -> None:
        total, shares, minimum = packet
        first = lucky_split(total, shares, minimum=minimum, rng=random.Random(seed))
        assert first == lucky_split(total, shares, minimum=minimum, rng=random.Random(seed))

    def test_a_total_of_exactly_the_minimums_gives_every_share_the_minimum(self) -> None:
        assert lucky_split(20, 20, minimum=1, rng=random.Random(1)) == [1] * 20

    def test_shares_vary(self) -> None:
        amounts = lucky_split(10_000, 100, minimum=1, rng=random.Random(7))
        assert len(set(amounts)) > 10

    @pytest.mark.parametrize(("total", "shares", "minimum"), [(19, 20, 1), (10, 0, 1), (10, 2, 0)])
    def test_a_total_that_cannot_make_the_shares_is_refused(
        self, total: int, shares: int, minimum: int
    ) -> None:
        with pytest.raises(SplitError):
            lucky_split(total, shares, minimum=minimum, rng=random.Random(1))


class TestEqualSplit:
    @given(packets())
    def test_shares_sum_to_the_total_and_differ_by_a_cent_at_most(
        self, packet: tuple[int, int, int]
    ) -> None:
        total, shares, minimum = packet
        amounts = equal_split(total, shares, minimum=minimum)
        assert sum(amounts) == total
        assert min(amounts) >= minimum
        assert max(amounts) - min(amounts) <= 1

    def test_the_cents_that_do_not_divide_go_to_the_first_shares(self) -> None:
        assert equal_split(10, 3, minimum=1) == [4, 3, 3]


class TestBestLuck:
    def test_the_largest_share_is_the_best_luck(self) -> None:
        assert best_luck([(1, 30), (2, 70), (3, 50)]) == 2

    def test_a_tie_goes_to_the_earlier_claim(self) -> None:
        assert best_luck([(4, 70), (2, 70), (9, 10)]) == 2

    def test_no_claims_no_best_luck(self) -> None:
        assert best_luck([]) is None


class TestPacketTotal:
    def test_a_fixed_total_ignores_the_order(self) -> None:
        assert packet_total(FixedTotal(total_cents=888), 100_000) == 888
        assert packet_total(FixedTotal(total_cents=888), None) == 888

    def test_a_share_of_the_order_rounds_down_within_its_bounds(self) -> None:
        rule = OrderShare(basis_points=500, min_cents=100, max_cents=2_000)
        assert packet_total(rule, 25_999) == 1_299
        assert packet_total(rule, 1_000) == 100
        assert packet_total(rule, 1_000_000) == 2_000

    def test_a_share_of_an_unknown_order_is_unknown(self) -> None:
        assert packet_total(OrderShare(basis_points=500), None) is None

    def test_terms_refuse_a_fixed_total_too_small_for_the_shares(self) -> None:
        with pytest.raises(ValidationError, match="cannot make the shares"):
            CampaignTerms(
                shares_per_packet=10, packet_rule=FixedTotal(total_cents=50), min_share_cents=10
            )

    def test_terms_refuse_a_maximum_below_the_minimum(self) -> None:
        with pytest.raises(ValidationError, match="max_cents is below min_cents"):
            OrderShare(basis_points=100, min_cents=500, max_cents=100)


class TestBudgetSlices:
    @given(st.integers(0, 10**12), st.integers(1, 256))
    def test_slices_hold_the_whole_budget_evenly(self, cents: int, slices: int) -> None:
        parts = slice_budget(cents, slices)
        assert sum(parts) == cents
        assert max(parts) - min(parts) <= 1

    @given(st.dictionaries(st.integers(0, 63), st.integers(0, 10**6), min_size=1),
           st.integers(0, 10**7))  # fmt: skip
    def test_a_draw_across_slices_takes_exactly_the_amount_or_nothing(
        self, remaining: dict[int, int], cents: int
    ) -> None:
        changed = draw_across(remaining, cents)
        if cents > sum(remaining.values()):
            assert changed is None
            return
        assert changed is not None
        after = {**remaining, **changed}
        assert sum(remaining.values()) - sum(after.values()) == cents
        assert min(after.values()) >= 0

    def test_an_addition_is_spread_over_the_slices(self) -> None:
        assert add_across({0: 5, 1: 0, 2: 7}, 10) == {0: 9, 1: 3, 2: 10}
