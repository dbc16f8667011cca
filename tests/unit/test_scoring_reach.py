"""Influence (log-scaled reach), role, social value and priority."""

from decimal import Decimal
from itertools import pairwise

import pytest

from services.scoring.scores.explain import Explained, apportion
from services.scoring.scores.facts import Amplification, Audience, Referrals
from services.scoring.scores.influence import InfluencePolicy, influence_score, role
from services.scoring.scores.priority import PriorityPolicy, priority_score
from services.scoring.scores.social import SocialPolicy, social_score

INFLUENCE = InfluencePolicy()
SOCIAL = SocialPolicy()


def influence(
    followers: int | None = None,
    amplification: Amplification | None = None,
    referrals: Referrals | None = None,
) -> Explained:
    audience = Audience(follower_count=followers)
    return influence_score(
        audience, amplification or Amplification(), referrals or Referrals(), INFLUENCE
    )


def points(total: float) -> Explained:
    return apportion([("all", total)], places=2)


class TestInfluence:
    @pytest.mark.parametrize(
        ("followers", "expected"),
        [(None, "0.00"), (0, "0.00"), (9, "1.00"), (999, "3.00"), (10**6 - 1, "6.00")],
    )
    def test_followers_count_log10_of_1_plus_the_count(
        self, followers: int | None, expected: str
    ) -> None:
        assert influence(followers).total == Decimal(expected)

    def test_each_tenfold_adds_the_same_however_large(self) -> None:
        steps = [influence(10**n).total for n in range(1, 7)]
        gaps = {round(later - earlier, 1) for earlier, later in pairwise(steps)}
        assert gaps == {Decimal("1.0")}

    def test_shares_reach_mentions_and_friends_reached_add_their_components(self) -> None:
        score = influence(
            99,
            Amplification(shares=9, share_reach=9_999, mentions=99),
            Referrals(friend_claims=20, friends_reached=9),
        )
        assert {c.name: c.value for c in score.components} == {
            "followers": Decimal("2.00"),
            "shares": Decimal("0.50"),
            "share_reach": Decimal("2.00"),
            "mentions": Decimal("1.00"),
            "friends_reached": Decimal("1.00"),
        }
        assert score.total == Decimal("6.50")


class TestRole:
    def test_a_fan_over_the_threshold_is_a_kol(self) -> None:
        assert role(influence(10_000), INFLUENCE) == "kol"
        assert role(influence(9_000), INFLUENCE) == "consumer"

    def test_a_role_set_by_hand_beats_the_computed_one(self) -> None:
        assert role(influence(10**6), INFLUENCE, manual="employee") == "employee"
        assert role(influence(0), INFLUENCE, manual="kol") == "kol"

    def test_the_threshold_is_configurable(self) -> None:
        assert role(influence(99), InfluencePolicy(kol_threshold=2)) == "kol"


class TestSocialValue:
    def test_a_fan_who_brought_nobody_in_has_no_social_value(self) -> None:
        assert social_score(Referrals(), Amplification(), SOCIAL).total == 0

    def test_reaching_every_full_mark_earns_100(self) -> None:
        referrals = Referrals(friend_claims=50, first_orders=10, first_order_cents=500_000)
        amplification = Amplification(shares=10, share_reach=9_990)
        assert social_score(referrals, amplification, SOCIAL).points == 100

    def test_going_past_a_full_mark_earns_nothing_more(self) -> None:
        score = social_score(Referrals(first_orders=1_000), Amplification(), SOCIAL)
        assert score.component("referred_orders") == 35

    def test_components_are_log_scaled_towards_their_full_marks(self) -> None:
        # log10(1 + 1) / log10(1 + 10) of 35 points: a first referred order is worth 10
        score = social_score(Referrals(first_orders=1), Amplification(), SOCIAL)
        assert score.component("referred_orders") == 10

    def test_each_share_counts_one_plus_its_reach(self) -> None:
        score = social_score(Referrals(), Amplification(shares=1, share_reach=99), SOCIAL)
        assert score.component("shares_reach") == 8  # 15 * log10(1 + 100) / log10(1 + 10_000)


class TestPriority:
    def test_priority_combines_wallet_social_engagement_and_influence_40_30_20_10(self) -> None:
        score = priority_score(
            wallet=apportion([("w", 50)]),
            social=apportion([("s", 100)]),
            engagement=points(20),  # half marks
            influence=points(3),  # half of full
            policy=PriorityPolicy(),
        )
        assert [(c.name, int(c.value)) for c in score.components] == [
            ("wallet", 20),
            ("social", 30),
            ("engagement", 10),
            ("influence", 5),
        ]
        assert score.points == 65

    def test_weights_are_relative(self) -> None:
        policy = PriorityPolicy(wallet=1, social=1, engagement=0, influence=0)
        score = priority_score(
            wallet=apportion([("w", 80)]),
            social=apportion([("s", 40)]),
            engagement=points(1000),
            influence=points(9),
            policy=policy,
        )
        assert score.points == 60

    def test_weights_must_not_all_be_zero(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            PriorityPolicy(wallet=0, social=0, engagement=0, influence=0)
