"""Wallet value: RFM of the fan's own orders, against the brand's cut points."""

from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.scores.facts import Purchases
from services.scoring.scores.wallet import (
    Rfm,
    WalletCutPoints,
    WalletPolicy,
    monetary_cents,
    recency_score,
    wallet_cut_points,
    wallet_score,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = WalletPolicy()
CUTS = WalletCutPoints(
    currency="CNY", monetary=(5_000, 12_000, 30_000, 80_000), frequency=(1, 1, 2, 4)
)


def bought(*orders: tuple[int, int], currency: str = "CNY") -> Purchases:
    """Orders as (cents, days ago)."""
    purchases = Purchases()
    for cents, days_ago in orders:
        purchases = purchases.paid(cents, currency, NOW - timedelta(days=days_ago))
    return purchases


class TestRfm:
    def test_a_fan_who_never_bought_has_no_rfm_and_no_wallet_value(self) -> None:
        score = wallet_score(Purchases(), CUTS, POLICY, now=NOW)
        assert score.rfm is None
        assert score.score.total == 0

    def test_frequency_and_monetary_are_scored_against_the_brands_cut_points(self) -> None:
        purchases = bought((20_000, 3), (20_000, 10), (20_000, 40))
        score = wallet_score(purchases, CUTS, POLICY, now=NOW)
        assert score.rfm == Rfm(recency=5, frequency=4, monetary=4)

    def test_the_best_buyer_scores_100(self) -> None:
        purchases = bought(*[(50_000, day) for day in range(5)])
        score = wallet_score(purchases, CUTS, POLICY, now=NOW)
        assert score.rfm == Rfm(5, 5, 5)
        assert score.score.points == 100

    def test_the_lowest_quintile_everywhere_still_earns_a_fifth(self) -> None:
        score = wallet_score(bought((100, 400)), CUTS, POLICY, now=NOW)
        assert score.rfm == Rfm(1, 1, 1)
        assert score.score.points == 20

    def test_the_score_weighs_r_f_m_30_30_40_by_default(self) -> None:
        score = wallet_score(bought((100_000, 200)), CUTS, POLICY, now=NOW)
        assert score.rfm == Rfm(recency=2, frequency=1, monetary=5)
        assert [c.value for c in score.score.components] == [12, 6, 40]

    @pytest.mark.parametrize(
        ("days", "expected"),
        [(0, 5), (30, 5), (31, 4), (90, 4), (180, 3), (365, 2), (366, 1), (3650, 1)],
    )
    def test_recency_comes_from_fixed_day_thresholds(self, days: int, expected: int) -> None:
        assert recency_score(timedelta(days=days), POLICY) == expected

    def test_recency_falls_as_time_passes_without_orders(self) -> None:
        purchases = bought((20_000, 0))
        later = [
            wallet_score(purchases, CUTS, POLICY, now=NOW + timedelta(days=days)).score.total
            for days in (0, 60, 120, 300, 400)
        ]
        assert later == sorted(later, reverse=True)
        assert later[0] > later[-1]


class TestRefunds:
    def test_monetary_value_is_net_of_refunds(self) -> None:
        purchases = bought((30_000, 5)).refunded(25_000, "CNY")
        assert monetary_cents(purchases, "CNY") == 5_000
        assert wallet_score(purchases, CUTS, POLICY, now=NOW).rfm == Rfm(5, 1, 1)

    def test_a_refund_seen_before_its_order_nets_the_same(self) -> None:
        early = Purchases().refunded(25_000, "CNY").paid(30_000, "CNY", NOW)
        late = Purchases().paid(30_000, "CNY", NOW).refunded(25_000, "CNY")
        assert early == late

    def test_a_fully_refunded_fan_never_counts_below_zero(self) -> None:
        purchases = Purchases().refunded(9_000, "CNY")
        assert monetary_cents(purchases, "CNY") == 0

    def test_only_the_brands_currency_counts_towards_monetary_value(self) -> None:
        purchases = bought((90_000, 1), currency="usd")
        assert purchases.net_cents == {"USD": 90_000}
        assert monetary_cents(purchases, "CNY") == 0


class TestWalletCutPoints:
    def test_cut_points_are_the_quintiles_of_the_brands_buyers(self) -> None:
        cuts = wallet_cut_points(
            currency="cny", monetary=range(100, 1100, 100), frequency=[1] * 7 + [2, 3, 9]
        )
        assert cuts == WalletCutPoints(
            currency="CNY", monetary=(200, 400, 600, 800), frequency=(1, 1, 1, 2)
        )

    def test_ties_stay_below_so_one_time_buyers_share_the_lowest_frequency(self) -> None:
        cuts = wallet_cut_points(currency="CNY", monetary=[1], frequency=[1] * 9 + [2])
        one_time = wallet_score(bought((1, 1)), cuts, POLICY, now=NOW)
        assert one_time.rfm is not None
        assert one_time.rfm.frequency == 1

    def test_a_brand_without_buyers_has_zero_cut_points(self) -> None:
        cuts = wallet_cut_points(currency="CNY", monetary=[], frequency=[])
        assert cuts.monetary == (0, 0, 0, 0)
        assert cuts.frequency == (0, 0, 0, 0)

    def test_decreasing_cut_points_are_refused(self) -> None:
        with pytest.raises(ValueError, match="must not decrease"):
            WalletCutPoints(currency="CNY", monetary=(5, 4, 6, 7))


class TestWalletPolicy:
    def test_recency_thresholds_must_increase(self) -> None:
        with pytest.raises(ValueError, match="positive and increasing"):
            WalletPolicy(recency_days=(30, 30, 180, 365))

    def test_weights_must_not_all_be_zero(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            WalletPolicy(weights={"recency": 0, "frequency": 0, "monetary": 0})
