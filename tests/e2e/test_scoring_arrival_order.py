"""scoring's profiles do not depend on the order a fan's events arrive in, nor on redelivery:
one event log published in shuffled orders, some events twice, and consumed by the running
service, gives the profiles the log gives in its own order, and scored at one instant the same
scores, cut points and tiers."""

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    Platform,
    ReactionAdded,
    ReplyDelivered,
)
from shared.events import CloudEvent
from tests.helpers import eventually, running
from tests.scoring_deployment import STATE_COLUMNS, ScoringDeployment, scored_ids

pytestmark = pytest.mark.e2e
START = datetime(2026, 11, 2, tzinfo=UTC)
AT = START + timedelta(days=14)  # the instant every profile is scored at to be compared
TAG_RULES = {"tea": {"keywords": ["tea"], "hashtags": ["奶茶"]}}
BRAND_ACCOUNTS = ("brand-a", "brand-b", "shop-c")
REFERENCE = "-in-order"
FETCHED_AT_ONCE = 5  # the accounts' suffix of the log applied in its own order


@dataclass(frozen=True)
class Fan:
    """Builds one fan's events, `day` and `hour` counted from START."""

    platform: Platform
    account: str
    user: str

    def _at(self, day: float, hour: float, followers: int | None) -> FanFields:
        return FanFields(platform=self.platform, account=self.account, user_id=self.user,
                         occurred_at=START + timedelta(days=day, hours=hour),
                         follower_count=followers)  # fmt: skip

    def message(
        self, day: float, hour: float = 12, *, text: str | None = None, followers: int | None = None
    ) -> FanEvent:
        return MessageReceived(**self._at(day, hour, followers), message_id="m", text=text)

    def comment(self, day: float, *, text: str | None = None, mention: bool = False) -> FanEvent:
        return CommentCreated(**self._at(day, 12, None), comment_id="c", text=text,
                              is_mention=mention)  # fmt: skip

    def reaction(self, day: float, hour: float = 12, *, followers: int | None = None) -> FanEvent:
        return ReactionAdded(**self._at(day, hour, followers), target_id="p", reaction="like")

    def share(
        self, day: float, *, reach: int | None = None, followers: int | None = None
    ) -> FanEvent:
        return ContentShared(**self._at(day, 12, followers), content_id="s", reach=reach)

    def follow(self, day: float, hour: float = 12) -> FanEvent:
        return FanFollowed(**self._at(day, hour, None))

    def unfollow(self, day: float, hour: float = 12, *, followers: int) -> FanEvent:
        return FanUnfollowed(**self._at(day, hour, followers))

    def paid(self, day: float, cents: int, currency: str = "CNY") -> FanEvent:
        return OrderPaid(**self._at(day, 12, None), order_id=f"o{day}", amount_cents=cents,
                         currency=currency)  # fmt: skip

    def refunded(self, day: float, cents: int, *, order_day: float, currency: str) -> FanEvent:
        return OrderRefunded(**self._at(day, 12, None), order_id=f"o{order_day}",
                             amount_cents=cents, currency=currency)  # fmt: skip

    def reply(self, day: float) -> FanEvent:
        return ReplyDelivered(**self._at(day, 12, None), reply_id="r")


def fan_log(suffix: str) -> list[FanEvent]:
    """Seven fans of three brand accounts (their names ending in `suffix`), every kind of event
    scoring reads and one it does not. Already in this order some interactions arrive dated
    more than the fold horizon (3 days) before one that came earlier. No kind is over its daily
    cap on a day that can be folded (such a day arriving late would count uncapped: the limit
    the README states)."""
    a, b, c = (f"{account}{suffix}" for account in BRAND_ACCOUNTS)
    early, night = Fan("weibo", a, "early"), Fan("weibo", a, "night")
    kol, quiet, regular = Fan("x", b, "kol"), Fan("x", b, "quiet"), Fan("x", b, "regular")
    buyer, another = Fan("standard", c, "buyer"), Fan("standard", c, "another")
    return [
        early.message(9, 10, text="milk tea please", followers=1_200),
        early.unfollow(9, 10, followers=1_500),  # the same instant: the larger count is kept
        early.message(1, 9), early.message(1, 9.5, text="#奶茶# again"), early.message(2, 14),
        *(early.reaction(3, hour) for hour in (8, 9, 10)),
        early.comment(8, mention=True), early.comment(5, text="where is my TEA"),
        early.share(7, reach=800), early.share(7),
        early.follow(0), early.follow(9, 11), early.follow(9, 12),  # over the cap, never folded
        *(night.message(day, 1 + day % 4, followers=100 + day) for day in range(11)),
        night.refunded(6, 5_000, order_day=4, currency="CNY"), night.paid(4, 25_000),
        kol.share(8, reach=300_000, followers=300_000), kol.comment(8, mention=True),
        kol.comment(8, mention=True), kol.share(2, reach=300_000),
        kol.reaction(1, followers=290_000), kol.message(12),
        quiet.unfollow(6, followers=50), quiet.reply(6),
        regular.message(10), regular.message(11), regular.message(12), regular.reaction(12),
        buyer.refunded(4, 2_000, order_day=3, currency="USD"), buyer.paid(1, 30_000),
        buyer.paid(3, 9_900, "USD"), buyer.paid(5, 120_000), buyer.paid(12, 45_000),
        another.paid(10, 5_000),
    ]  # fmt: skip


LOG_SIZE = len(fan_log(""))
LATEST_FIRST = sorted(range(LOG_SIZE), key=lambda n: fan_log("")[n].occurred_at, reverse=True)


def cloud_events(data: Sequence[FanEvent]) -> list[CloudEvent[FanEvent]]:
    return [CloudEvent.of(item, id=uuid.uuid4().hex, source="test", subject=item.fan_key)
            for item in data]  # fmt: skip


async def publish_and_apply(
    deployment: ScoringDeployment, arriving: Sequence[CloudEvent[FanEvent]]
) -> None:
    """Publish `arriving` in its order; until the service has applied each event of it once."""
    await deployment.publish(arriving)
    ids = sorted(scored_ids(arriving))

    async def applied() -> bool:
        return await deployment.claimed(ids) == len(ids)

    await eventually(applied, within=30)


def of_suffix(
    profiles: dict[str, dict[str, Any]], suffix: str, columns: Callable[[str], bool]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The profiles of the accounts ending in `suffix`, by platform, account without it and
    user, with the `columns` chosen."""
    return {
        (row["platform"], row["account"].removesuffix(suffix), fan_key.rsplit(":", 1)[1]): {
            name: value for name, value in row.items() if columns(name)
        }
        for fan_key, row in profiles.items()
        if row["account"].endswith(suffix)
    }


def state_column(name: str) -> bool:
    return name in STATE_COLUMNS and name != "account"


def scored_column(name: str) -> bool:
    return name not in ("fan_key", "account")


@pytest.fixture
async def scoring(settings_for: Callable[..., Any]) -> AsyncIterator[ScoringDeployment]:
    """The service running on the test's topics and database, the log applied in its own order
    under the accounts ending in REFERENCE. It takes a few records at a time, so that a fan's
    events are applied in several batches, to a profile stored already."""
    service_settings: ScoringSettings = settings_for(
        ScoringSettings, tag_rules=TAG_RULES, cut_points_refresh_seconds=3600,
        consumer_max_batch=FETCHED_AT_ONCE,
    )  # fmt: skip
    deployment = ScoringDeployment(service_settings)
    try:
        async with running(create_app(service_settings)):
            await publish_and_apply(deployment, cloud_events(fan_log(REFERENCE)))
            yield deployment
    finally:
        await deployment.dispose()


class TestOrderOfArrival:
    @settings(
        max_examples=5, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )  # fmt: skip
    @example(  # each fan's days more than 3 before their last one all arrive past the horizon
        order=LATEST_FIRST, copies=[(n, LOG_SIZE) for n in range(0, 40, 4)]
    )
    @given(
        order=st.permutations(range(LOG_SIZE)),
        copies=st.lists(
            st.tuples(st.integers(0, LOG_SIZE - 1), st.integers(0, LOG_SIZE)), max_size=10
        ),
    )
    async def test_shuffled_and_repeated_events_give_the_profiles_of_the_log_in_order(
        self, scoring: ScoringDeployment, order: list[int], copies: list[tuple[int, int]]
    ) -> None:
        suffix = f"-{uuid.uuid4().hex[:8]}"
        events = cloud_events(fan_log(suffix))
        arriving = [events[n] for n in order]
        for n, position in copies:  # another record of the same event
            arriving.insert(position, events[n])
        await publish_and_apply(scoring, arriving)

        profiles = await scoring.profiles()
        expected = of_suffix(profiles, REFERENCE, state_column)
        assert len(expected) == 7
        assert of_suffix(profiles, suffix, state_column) == expected
        await scoring.rescore(AT)
        profiles = await scoring.profiles()
        scored = of_suffix(profiles, REFERENCE, scored_column)
        assert of_suffix(profiles, suffix, scored_column) == scored
        assert len({row["tier"] for row in scored.values()}) > 1
        cut_points = {brand: {k: v for k, v in row.items() if k != "account"}
                      for (_, brand), row in (await scoring.cut_points()).items()}  # fmt: skip
        for brand in BRAND_ACCOUNTS:
            assert cut_points[brand + suffix] == cut_points[brand + REFERENCE], brand
