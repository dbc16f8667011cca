"""A fan's state: what each event and coupon signal changes, in any order."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import asdict

from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.state import (
    CouponClaimed,
    FanState,
    FriendClaimed,
    ReferredFirstOrder,
    ReferredFirstOrderRefunded,
    Signal,
    apply_signal,
    interaction_kind,
)
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
    ReplyDelivered,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = ScoringPolicy.model_validate(
    {"tag_rules": {"milk-tea": {"keywords": ["奶茶"]}, "coffee": {"hashtags": ["咖啡"]}}}
)


def fan(at: datetime = START, followers: int | None = None) -> FanFields:
    return FanFields(
        platform="weibo", account="brand", user_id="fan-1", occurred_at=at, follower_count=followers
    )


def applied(*signals: Signal, state: FanState | None = None) -> FanState:
    state = state or FanState()
    for signal in signals:
        state = apply_signal(state, signal, policy=POLICY, time_zone=SHANGHAI)
    return state


class TestInteractions:
    def test_each_interaction_event_has_its_kind(self) -> None:
        kinds = [
            interaction_kind(event)
            for event in (
                MessageReceived(**fan(), message_id="m"),
                CommentCreated(**fan(), comment_id="c"),
                CommentCreated(**fan(), comment_id="c", is_mention=True),
                ReactionAdded(**fan(), target_id="p", reaction="like"),
                ContentShared(**fan(), content_id="p"),
                FanFollowed(**fan()),
                FanUnfollowed(**fan()),
                OrderPaid(**fan(), order_id="o", amount_cents=1, currency="CNY"),
            )
        ]
        assert kinds == ["message", "comment", "mention", "reaction", "share", "follow", None, None]

    def test_an_interaction_counts_towards_engagement_activity_and_its_local_hour(self) -> None:
        at = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 in Shanghai
        state = applied(MessageReceived(**fan(at), message_id="m"))
        assert state.engagement.days[at.date()]["message"].count == 1
        assert state.activity.first_seen == state.activity.last_active == at
        assert state.activity.local_hours[1] == 1
        assert state.activity.interactions == 1

    def test_times_are_kept_in_utc_whatever_offset_the_platform_sent(self) -> None:
        local = START.astimezone(SHANGHAI)
        state = applied(OrderPaid(**fan(local), order_id="o", amount_cents=1, currency="CNY"))
        assert state.activity.first_seen is not None
        assert state.activity.first_seen.tzinfo == UTC
        assert state == applied(
            OrderPaid(**fan(START), order_id="o", amount_cents=1, currency="CNY")
        )

    def test_a_mention_and_a_share_count_as_amplification(self) -> None:
        state = applied(
            CommentCreated(**fan(), comment_id="c", is_mention=True),
            ContentShared(**fan(), content_id="p", reach=300),
            ContentShared(**fan(), content_id="q"),
        )
        assert asdict(state.amplification) == {
            "shares": 2,
            "share_reach": 300,
            "mentions": 1,
        }

    def test_what_fans_write_earns_rule_tags(self) -> None:
        state = applied(
            MessageReceived(**fan(), message_id="m", text="想喝奶茶"),
            CommentCreated(**fan(), comment_id="c", text="#咖啡# 早安"),
            ReactionAdded(**fan(), target_id="奶茶", reaction="like"),
        )
        assert state.rule_tags == {"milk-tea", "coffee"}


class TestWhatIsNotActivity:
    def test_an_unfollow_does_not_make_a_fan_active_but_its_follower_count_is_seen(self) -> None:
        state = applied(FanUnfollowed(**fan(followers=42)))
        assert state.activity.last_active is None
        assert state.audience.follower_count == 42

    def test_a_reply_the_brand_sent_changes_nothing_of_the_fans_activity(self) -> None:
        assert applied(ReplyDelivered(**fan(), reply_id="r")) == FanState()


class TestAudience:
    def test_the_latest_follower_count_by_event_time_wins_whatever_arrives_last(self) -> None:
        newer = ReactionAdded(**fan(START + timedelta(hours=1), 900), target_id="p", reaction="+")
        older = ReactionAdded(**fan(START, 5000), target_id="p", reaction="+")
        assert applied(newer, older).audience.follower_count == 900
        assert applied(older, newer).audience.follower_count == 900

    def test_two_counts_at_the_same_moment_keep_the_larger(self) -> None:
        one, other = (FanFollowed(**fan(START, count)) for count in (10, 20))
        assert applied(one, other).audience == applied(other, one).audience


class TestOrdersAndCoupons:
    def test_orders_paid_and_refunded_net_out_in_cents(self) -> None:
        state = applied(
            OrderPaid(**fan(), order_id="o1", amount_cents=12_000, currency="CNY"),
            OrderPaid(
                **fan(START + timedelta(days=2)), order_id="o2", amount_cents=8_000, currency="CNY"
            ),
            OrderRefunded(**fan(), order_id="o1", amount_cents=12_000, currency="CNY"),
        )
        purchases = state.purchases
        assert (purchases.paid_orders, purchases.refunds, purchases.net_cents) == (
            2,
            1,
            {"CNY": 8_000},
        )
        assert purchases.first_paid_at == START
        assert purchases.last_paid_at == START + timedelta(days=2)

    def test_claiming_a_coupon_is_activity_and_counts_towards_coupon_hunting(self) -> None:
        state = applied(CouponClaimed(at=START))
        assert state.purchases.coupon_claims == 1
        assert state.activity.last_active == START

    def test_friends_claims_and_first_orders_count_as_referrals(self) -> None:
        state = applied(
            FriendClaimed(first_from_friend=True),
            FriendClaimed(first_from_friend=False),
            ReferredFirstOrder(amount_cents=5_000),
            ReferredFirstOrder(amount_cents=3_000),
            ReferredFirstOrderRefunded(amount_cents=3_000),
        )
        assert asdict(state.referrals) == {
            "friend_claims": 2,
            "friends_reached": 1,
            "first_orders": 2,
            "first_order_cents": 8_000,
            "refunded_orders": 1,
            "refunded_cents": 3_000,
        }
        assert (state.referrals.kept_orders, state.referrals.kept_order_cents) == (1, 5_000)

    def test_a_refund_read_before_its_order_keeps_nothing_below_zero(self) -> None:
        state = applied(ReferredFirstOrderRefunded(amount_cents=3_000))
        assert (state.referrals.kept_orders, state.referrals.kept_order_cents) == (0, 0)
        later = applied(ReferredFirstOrder(amount_cents=3_000), state=state)
        assert (later.referrals.kept_orders, later.referrals.kept_order_cents) == (0, 0)


def signals() -> st.SearchStrategy[Signal]:
    moments = st.integers(0, 3 * 86_400).map(lambda s: START + timedelta(seconds=s))
    followers = st.none() | st.integers(0, 10**6)
    fields = st.builds(fan, moments, followers)
    texts = st.sampled_from([None, "奶茶", "#咖啡#", "hello"])
    money = st.integers(0, 10**6)
    return st.one_of(
        st.builds(lambda f, t: MessageReceived(**f, message_id="m", text=t), fields, texts),
        st.builds(
            lambda f, m: CommentCreated(**f, comment_id="c", is_mention=m), fields, st.booleans()
        ),
        st.builds(lambda f: ReactionAdded(**f, target_id="p", reaction="+"), fields),
        st.builds(
            lambda f, r: ContentShared(**f, content_id="p", reach=r),
            fields,
            st.none() | st.integers(0, 10**5),
        ),
        st.builds(lambda f: FanFollowed(**f), fields),
        st.builds(lambda f: FanUnfollowed(**f), fields),
        st.builds(
            lambda f, c: OrderPaid(**f, order_id="o", amount_cents=c, currency="CNY"), fields, money
        ),
        st.builds(
            lambda f, c: OrderRefunded(**f, order_id="o", amount_cents=c, currency="CNY"),
            fields,
            money,
        ),
        st.builds(CouponClaimed, moments),
        st.builds(FriendClaimed, st.booleans()),
        st.builds(ReferredFirstOrder, money),
        st.builds(ReferredFirstOrderRefunded, money),
    )


class TestOrderIndependence:
    @settings(max_examples=150, deadline=None)
    @given(st.lists(signals(), max_size=40), st.data())
    def test_the_state_after_a_set_of_signals_does_not_depend_on_their_order(
        self, log: list[Signal], data: st.DataObject
    ) -> None:
        assert applied(*data.draw(st.permutations(log))) == applied(*log)
