"""A whole profile read from a fan's history at a given time."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.profile import BrandStanding, ManualLabels, Profile, evaluate
from services.scoring.scores.state import FanState, FriendClaimed, Signal, apply_signal
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import WalletCutPoints
from shared.contracts import ContentShared, FanFields, MessageReceived, OrderPaid

START = datetime(2026, 3, 1, 16, tzinfo=UTC)  # midnight in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = ScoringPolicy.model_validate({"tag_rules": {"milk-tea": {"keywords": ["奶茶"]}}})
BRAND = BrandStanding(
    tiers=TierCutPoints(occasional=0),  # any engagement is occasional; nobody is above
    wallet=WalletCutPoints(currency="CNY", monetary=(1, 2, 3, 4), frequency=(1, 1, 2, 3)),
)


def fan(hours: float = 0, followers: int | None = 12_000) -> FanFields:
    return FanFields(
        platform="weibo",
        account="brand",
        user_id="fan-1",
        occurred_at=START + timedelta(hours=hours),
        follower_count=followers,
    )


def night_owl_who_buys_and_shares() -> FanState:
    signals: list[Signal] = [
        *(
            MessageReceived(**fan(hours=hour % 4), message_id=f"m{hour}", text="奶茶")
            for hour in range(12)
        ),
        OrderPaid(**fan(hours=3), order_id="o1", amount_cents=25_000, currency="CNY"),
        ContentShared(**fan(hours=3), content_id="post", reach=800),
        FriendClaimed(first_from_friend=True),
    ]
    state = FanState()
    for signal in signals:
        state = apply_signal(state, signal, policy=POLICY, time_zone=SHANGHAI)
    return state


def profile_at(days: float, manual: ManualLabels | None = None) -> Profile:
    state = night_owl_who_buys_and_shares()
    now = START + timedelta(days=days)
    return evaluate(state, policy=POLICY, brand=BRAND, manual=manual or ManualLabels(), now=now)


class TestProfile:
    def test_a_fresh_profile_reads_as_the_fans_history_says(self) -> None:
        profile = profile_at(days=1)
        assert profile.lifecycle == "new"
        assert profile.tier == "occasional"
        assert profile.role == "kol"  # 12,000 followers and a share
        assert profile.tags.all == ("milk-tea", "night_owl")
        assert profile.wallet.rfm is not None
        assert profile.wallet.rfm.recency == 5
        assert 0 < profile.priority.points <= 100

    def test_the_same_history_reads_lower_and_later_as_time_passes(self) -> None:
        fresh, later = profile_at(days=1), profile_at(days=120)
        assert later.engagement.total < fresh.engagement.total
        assert later.engagement_numerator == fresh.engagement_numerator
        assert later.priority.points < fresh.priority.points
        assert later.lifecycle == "lapsed"
        assert "lapsed_buyer" in later.tags.behaviour

    def test_labels_set_by_hand_win_or_sit_beside_the_computed_ones(self) -> None:
        manual = ManualLabels(role="employee", tags=frozenset({"staff"}))
        profile = profile_at(days=1, manual=manual)
        assert profile.role == "employee"
        assert profile.tags.all == ("milk-tea", "night_owl", "staff")

    def test_a_fan_who_never_did_anything_has_no_lifecycle_stage(self) -> None:
        profile = evaluate(FanState(), policy=POLICY, brand=BRAND, manual=ManualLabels(), now=START)
        assert profile.lifecycle is None
        assert profile.tier == "silent"
        assert profile.priority.points == 0
