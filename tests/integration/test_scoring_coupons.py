"""scoring's red-packet signals against a real PostgreSQL: claims, referral rewards and their
revocations folded into the profiles of the fans they name, friends counted once whatever the
order, batches and redeliveries, profiles made for fans not known before, and a profile two
transactions make at once never written over."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import coupon_signals, service
from services.scoring.config import ScoringSettings
from services.scoring.coupon_signals import SCORED_COUPON_TYPES, ScoredCouponEvent
from services.scoring.models import ReferralFriend, infrastructure
from services.scoring.repository import ProfileCreatedMeanwhile
from services.scoring.scores.facts import Referrals
from services.scoring.scores.state import FanState
from shared.consumer_batch import BatchRegistry, apply_batch
from shared.contracts import FanEvent, ReferralRewarded, ReferralRewardRevoked, ShareClaimed
from shared.db import transaction
from shared.events import CloudEvent
from tests.helpers import eventually
from tests.integration.test_scoring_profiles import START, Scoring, folded, history, messages

pytestmark = pytest.mark.integration


def weibo(user: str) -> str:
    return f"weibo:brand:{user}"


def claim(friend: str, referrer: str, *, hours: float = 1) -> CloudEvent[ScoredCouponEvent]:
    data = ShareClaimed(
        campaign_id="c1", fan_key=weibo(friend), packet_id=f"p-{uuid.uuid4().hex[:8]}",
        coupon_code=uuid.uuid4().hex[:8], amount_cents=500, referrer_fan_key=weibo(referrer),
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key,
                         time=START + timedelta(hours=hours))  # fmt: skip


def reward(
    referrer: str, referred: str, order_cents: int | None, *, hours: float = 2
) -> CloudEvent[ScoredCouponEvent]:
    data = ReferralRewarded(
        campaign_id="c1", fan_key=weibo(referrer), referred_fan_key=weibo(referred),
        order_id=f"o-{referred}", reward_cents=1_000, order_cents=order_cents,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key,
                         time=START + timedelta(hours=hours))  # fmt: skip


def revoked(
    referrer: str, referred: str, order_cents: int | None, *, hours: float = 3
) -> CloudEvent[ScoredCouponEvent]:
    """The reward of `reward(referrer, referred, ...)` revoked: that first order was refunded."""
    data = ReferralRewardRevoked(
        campaign_id="c1", fan_key=weibo(referrer), referred_fan_key=weibo(referred),
        order_id=f"o-{referred}", reward_cents=1_000, order_cents=order_cents,
        reward_id=f"r-{referred}",
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key,
                         time=START + timedelta(hours=hours))  # fmt: skip


class Coupons(Scoring):
    """scoring's events and coupons handlers over the test's database, at a fixed clock."""

    def __init__(self, scoring_settings: ScoringSettings) -> None:
        super().__init__(scoring_settings)

        async def score_at_now(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
            await service.score_coupon_events(
                session, events, model=self.model, outbox=self.outbox, now=self.now
            )

        self.coupons = BatchRegistry(score_at_now, frozenset(SCORED_COUPON_TYPES))

    async def apply_coupons(self, events: Sequence[CloudEvent[Any]]) -> None:
        await self.applied(self.claim_and_apply_coupons, events)

    async def applied(self, apply: "Apply", events: Sequence[CloudEvent[Any]]) -> None:
        """`apply` in a transaction of its own, as the consumer runner applies a batch."""
        async with transaction(self.sessionmaker) as session:
            await apply(session, events)

    async def claim_and_apply_coupons(
        self, session: AsyncSession, events: Sequence[CloudEvent[Any]]
    ) -> None:
        await apply_batch(
            session, self.coupons, events,
            processed_events=infrastructure.processed_events, consumer="scoring-test-coupons",
        )  # fmt: skip

    async def claim_and_apply_events(
        self, session: AsyncSession, events: Sequence[CloudEvent[Any]]
    ) -> None:
        await apply_batch(
            session, self.registry, events,
            processed_events=infrastructure.processed_events, consumer="scoring-test",
        )  # fmt: skip

    async def state(self, user: str) -> FanState:
        return FanState.from_dict((await self.profile(weibo(user))).state)

    async def announced(self) -> list[str]:
        """The fans of the snapshots in the outbox."""
        async with self.sessionmaker() as session:
            keys = await session.scalars(select(infrastructure.outbox.c.key))
            return sorted(key.decode() for key in keys)

    async def friends(self) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(ReferralFriend)) or 0)


@pytest.fixture
async def coupons(settings_for: Callable[..., Any]) -> AsyncIterator[Coupons]:
    harness = Coupons(settings_for(ScoringSettings))
    yield harness
    await harness.engine.dispose()


class TestRedPacketSignals:
    async def test_claims_and_rewards_reach_every_fan_they_name(self, coupons: Coupons) -> None:
        await coupons.apply(messages("host", 2))
        await coupons.apply_coupons(
            [claim("ann", "host", hours=3), claim("ann", "host", hours=1), claim("bo", "host"),
             claim("host", "host"), reward("host", "ann", 40_000), reward("host", "bo", None)]
        )  # fmt: skip
        host = await coupons.state("host")
        assert host.referrals == Referrals(
            friend_claims=3, friends_reached=2, first_orders=2, first_order_cents=40_000
        )
        assert host.purchases.coupon_claims == 1, "a claim of one's own packet"
        assert host.activity.interactions == 2
        ann = await coupons.profile(weibo("ann"))
        assert (ann.platform, ann.account, ann.interaction_count) == ("weibo", "brand", 0)
        assert (ann.first_seen_at, ann.last_seen_at) == (START + timedelta(hours=1),
                                                         START + timedelta(hours=3))  # fmt: skip
        assert ann.lifecycle == "new"
        assert (await coupons.state("ann")).purchases.coupon_claims == 2
        assert await coupons.friends() == 2
        announced = await coupons.announced()
        assert announced == sorted([weibo("host"), weibo("host"), weibo("ann"), weibo("bo")])

    @pytest.mark.parametrize("refund_first", [False, True])
    async def test_a_refunded_first_order_no_longer_counts_for_its_referrer(
        self, coupons: Coupons, refund_first: bool
    ) -> None:
        """The referrer's social value ends what it would be had the order never been paid.
        Both events are keyed by the referrer, so the revoke is read after the reward; read
        before it (a shuffled log), the end is the same."""
        await coupons.apply_coupons([claim("ann", "host"), claim("bo", "host")])
        await coupons.apply_coupons([reward("host", "bo", 7_000)])
        without = await coupons.profile(weibo("host"))
        paid, refunded = reward("host", "ann", 40_000), revoked("host", "ann", 40_000)
        if refund_first:
            await coupons.apply_coupons([refunded])
            await coupons.apply_coupons([paid])
        else:
            await coupons.apply_coupons([paid])
            assert (await coupons.profile(weibo("host"))).social > without.social
            await coupons.apply_coupons([refunded])
        host = await coupons.profile(weibo("host"))
        assert FanState.from_dict(host.state).referrals == Referrals(
            friend_claims=2, friends_reached=2, first_orders=2, first_order_cents=47_000,
            refunded_orders=1, refunded_cents=40_000,
        )  # fmt: skip
        assert host.social == without.social

    async def test_a_referrer_known_only_from_friends_gets_a_profile(
        self, coupons: Coupons
    ) -> None:
        await coupons.apply_coupons([claim("ann", "stranger"), reward("stranger", "ann", 9_900)])
        stranger = await coupons.profile(weibo("stranger"))
        assert stranger.lifecycle is None, "the stranger did nothing themselves"
        assert stranger.social > 0
        assert stranger.first_seen_at == START + timedelta(hours=1)

    async def test_a_name_that_is_no_fan_key_is_refused_and_nothing_kept(
        self, coupons: Coupons
    ) -> None:
        bad = claim("ann", "host")
        bad = bad.model_copy(update={"data": bad.data.model_copy(update={"referrer_fan_key": "x"})})
        with pytest.raises(ValueError, match="platform:account:user"):
            await coupons.apply_coupons([claim("bo", "host"), bad])
        assert await coupons.friends() == 0
        assert await coupons.announced() == []

    @settings(
        max_examples=6, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )  # fmt: skip
    @given(order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 40), max_size=5))
    async def test_any_order_batching_and_redelivery_yield_the_same_profiles(
        self, coupons: Coupons, order: Any, cuts: list[int]
    ) -> None:
        """The fans' own events and the coupon events, interleaved in any order and batches,
        some delivered twice, give the state of every event folded once."""
        run = uuid.uuid4().hex[:6]
        host, ann, bo = f"host-{run}", f"ann-{run}", f"bo-{run}"
        own: dict[str, list[CloudEvent[FanEvent]]] = {
            host: history(host), ann: history(ann), bo: []
        }  # fmt: skip
        red = [
            claim(ann, host), claim(ann, host, hours=5), claim(bo, host), claim(host, bo),
            claim(bo, host, hours=9), reward(host, ann, 12_000), reward(host, bo, None),
            reward(bo, host, 3_000), revoked(bo, host, 3_000),
        ]  # fmt: skip
        every: list[CloudEvent[Any]] = [*own[host], *own[ann], *red]
        shuffled = [*every, *order.sample(every, 8)]
        order.shuffle(shuffled)
        for start, end in itertools.pairwise([0, *sorted(cuts), len(shuffled)]):
            for is_coupon, chunk in itertools.groupby(
                shuffled[start:end], key=lambda event: isinstance(event.data, SCORED_COUPON_TYPES)
            ):
                apply = coupons.apply_coupons if is_coupon else coupons.apply
                await apply(list(chunk))
        for user, events in own.items():
            assert await coupons.state(user) == expected_state(coupons, weibo(user), events, red)
        assert (await coupons.state(host)).referrals.friends_reached == 2


def expected_state(
    coupons: Coupons,
    fan_key: str,
    own: Sequence[CloudEvent[FanEvent]],
    red: Sequence[CloudEvent[ScoredCouponEvent]],
) -> FanState:
    """The fan's events and coupon signals folded once each, every pair of the claims new."""
    signals = coupon_signals.signals_by_fan(red, new_pairs=coupon_signals.friend_pairs(red))
    row = folded(own, coupons.model, coupons.now) if own else None
    row = row or coupon_signals.profile_of(fan_key, at=START, now=coupons.now)
    return coupon_signals.signalled(row, signals.get(fan_key, []), coupons.model).state


Apply = Callable[[AsyncSession, Sequence[CloudEvent[Any]]], Awaitable[None]]


class TestProfilesMadeAtOnce:
    @pytest.mark.parametrize("first", ["coupons", "events"])
    async def test_a_profile_made_meanwhile_is_not_written_over(
        self, coupons: Coupons, first: str
    ) -> None:
        """Both consumers take the fan for new; the one that writes second waits for the first,
        is refused (its transaction rolls back), and applied again folds into the profile the
        first made."""
        appliers: dict[str, tuple[Apply, list[CloudEvent[Any]]]] = {
            "coupons": (coupons.claim_and_apply_coupons, [claim("newcomer", "host")]),
            "events": (coupons.claim_and_apply_events, [*messages("newcomer", 1)]),
        }
        (apply_first, first_events), (apply_second, second_events) = (
            appliers.pop(first),
            *appliers.values(),
        )
        async with transaction(coupons.sessionmaker) as session:
            await apply_first(session, first_events)
            second = asyncio.create_task(coupons.applied(apply_second, second_events))
            await eventually(lambda: waiting_or_done(coupons, second), within=10)
        with pytest.raises(ProfileCreatedMeanwhile):
            await second
        await coupons.applied(apply_second, second_events)
        newcomer = await coupons.state("newcomer")
        assert newcomer.activity.interactions == 1
        assert newcomer.purchases.coupon_claims == 1


async def waiting_or_done(coupons: Coupons, task: "asyncio.Task[None]") -> bool:
    """Whether `task` has ended, or a session of the test's database waits for a lock."""
    if task.done():
        return True
    async with coupons.sessionmaker() as session:
        waiting = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND wait_event_type = 'Lock'")
        )  # fmt: skip
    return bool(waiting)
