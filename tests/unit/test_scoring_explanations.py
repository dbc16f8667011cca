"""Every score explains itself: its components add up to it exactly, for any input."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.scores.engagement import INTERACTION_KINDS, EngagementState, apply_interaction
from services.scoring.scores.explain import Explained, apportion, log_points, log_share
from services.scoring.scores.facts import Activity, Amplification, Audience, Purchases, Referrals
from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.profile import BrandStanding, ManualLabels, Profile, evaluate
from services.scoring.scores.state import FanState
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import WalletCutPoints

NOW = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = ScoringPolicy()
counts = st.integers(0, 10**9)


def adds_up(score: Explained) -> bool:
    return sum((c.value for c in score.components), Decimal(0)) == score.total


def out_of_100(score: Explained) -> bool:
    return 0 <= score.total <= 100 and score.total == score.total.to_integral_value()


@st.composite
def engagement(draw: st.DrawFn) -> EngagementState:
    state = EngagementState()
    for kind, seconds in draw(
        st.lists(
            st.tuples(st.sampled_from(INTERACTION_KINDS), st.integers(0, 400 * 86_400)), max_size=30
        )
    ):
        state = apply_interaction(state, kind, NOW - timedelta(seconds=seconds), POLICY.engagement)
    return state


@st.composite
def purchases(draw: st.DrawFn) -> Purchases:
    paid_at = draw(st.none() | st.integers(0, 2000).map(lambda d: NOW - timedelta(days=d)))
    return Purchases(
        paid_orders=0 if paid_at is None else draw(st.integers(1, 500)),
        net_cents={"CNY": draw(st.integers(-(10**8), 10**10))},
        last_paid_at=paid_at,
        first_paid_at=paid_at,
        coupon_claims=draw(counts),
    )


fan_states = st.builds(
    FanState,
    activity=st.just(Activity(first_seen=NOW - timedelta(days=40), last_active=NOW)),
    engagement=engagement(),
    audience=st.builds(Audience, follower_count=st.none() | counts),
    amplification=st.builds(Amplification, shares=counts, share_reach=counts, mentions=counts),
    referrals=st.builds(
        Referrals,
        friend_claims=counts,
        friends_reached=counts,
        first_orders=counts,
        first_order_cents=counts,
    ),
    purchases=purchases(),
)
ascending = st.lists(st.integers(0, 10**7), min_size=4, max_size=4).map(sorted)
brands = st.builds(
    BrandStanding,
    tiers=st.just(TierCutPoints()),
    wallet=st.builds(
        lambda m, f: WalletCutPoints(currency="CNY", monetary=tuple(m), frequency=tuple(f)),
        ascending,
        ascending,
    ),
)


def scores(profile: Profile) -> list[Explained]:
    return [
        profile.engagement,
        profile.influence,
        profile.wallet.score,
        profile.social,
        profile.priority,
    ]


class TestExplanations:
    @settings(max_examples=300, deadline=None)
    @given(fan_states, brands)
    def test_every_score_of_a_profile_is_the_sum_of_its_components(
        self, state: FanState, brand: BrandStanding
    ) -> None:
        profile = evaluate(state, policy=POLICY, brand=brand, manual=ManualLabels(), now=NOW)
        assert all(adds_up(score) for score in scores(profile))
        assert all(out_of_100(s) for s in (profile.wallet.score, profile.social, profile.priority))

    @given(st.lists(st.floats(0, 1e6), max_size=12), st.integers(0, 3))
    def test_apportioned_parts_add_up_to_the_rounded_sum(
        self, parts: list[float], places: int
    ) -> None:
        score = apportion([(str(i), part) for i, part in enumerate(parts)], places=places)
        assert adds_up(score)
        half_a_unit = Decimal("0.5") / 10**places
        assert abs(score.total - Decimal(sum(parts))) <= half_a_unit + Decimal("1e-6")

    @given(st.lists(st.floats(0, 1e6), min_size=1, max_size=12))
    def test_no_part_moves_more_than_one_unit_from_its_exact_value(
        self, parts: list[float]
    ) -> None:
        score = apportion([(str(i), part) for i, part in enumerate(parts)])
        assert all(
            abs(c.value - Decimal(part)) < 1
            for c, part in zip(score.components, parts, strict=True)
        )

    def test_the_part_with_the_largest_remainder_gets_the_missing_unit(self) -> None:
        score = apportion([("a", 33.4), ("b", 33.3), ("c", 33.3)])
        assert [c.value for c in score.components] == [34, 33, 33]
        assert score.total == 100

    def test_a_negative_component_is_refused(self) -> None:
        with pytest.raises(ValueError, match="must be finite and >= 0"):
            apportion([("refunds", -1.0)])


class TestLogScaling:
    def test_log_points_are_log10_of_1_plus_the_value(self) -> None:
        assert [log_points(v) for v in (0, 9, 99, 999)] == pytest.approx([0, 1, 2, 3])

    def test_log_share_reaches_1_at_full_marks_and_stays_there(self) -> None:
        assert log_share(99, full_at=9_999) == pytest.approx(0.5)
        assert log_share(9_999, full_at=9_999) == 1 == log_share(10**9, full_at=9_999)
