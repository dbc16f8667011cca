"""scoring's rules against a real PostgreSQL: profiles folded from batches of fan events, kept
exactly, the same whatever order and batches the events came in; brands' cut points and the
tiers and lifecycle stages that follow them."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring import handlers, queries, repository, service, standings
from services.scoring import refresher as refresher_module
from services.scoring.config import ScoringSettings
from services.scoring.domain import ProfileRow, ScoringModel, new_profile
from services.scoring.models import BrandCutPoints, FanProfile, infrastructure
from services.scoring.refresher import StandingsRefresher
from services.scoring.schemas import FanProfileOut
from services.scoring.scores.state import FanState
from shared.consumer_batch import BatchRegistry, apply_batch
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    FanFields,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent
from shared.migrate import alembic_config
from shared.outbox import Outbox

pytestmark = pytest.mark.integration
START = datetime(2026, 3, 1, 9, tzinfo=UTC)
NOW = START + timedelta(days=2)


def fan(user: str, hours: float, *, account: str = "brand") -> FanFields:
    return FanFields(
        platform="weibo", account=account, user_id=user,
        occurred_at=START + timedelta(hours=hours), follower_count=500 + int(hours),
    )  # fmt: skip


def history(user: str, *, account: str = "brand") -> list[CloudEvent[FanEvent]]:
    """A fan's mixed history over two days (within the engagement fold horizon)."""
    data: list[FanEvent] = [
        *(MessageReceived(**fan(user, h, account=account), message_id=f"m{h}") for h in range(8)),
        *(ReactionAdded(**fan(user, h, account=account), target_id="p", reaction="like")
          for h in range(0, 40, 3)),
        CommentCreated(**fan(user, 5, account=account), comment_id="c1", is_mention=True),
        ContentShared(**fan(user, 6, account=account), content_id="p1", reach=900),
        OrderPaid(**fan(user, 7, account=account), order_id="o1", amount_cents=25_000,
                  currency="CNY"),
        OrderRefunded(**fan(user, 30, account=account), order_id="o1", amount_cents=5_000,
                      currency="CNY"),
    ]  # fmt: skip
    return [CloudEvent.of(d, id=uuid.uuid4().hex, source="test", subject=d.fan_key) for d in data]


class Scoring:
    """scoring's batch handler over the test's database, at a fixed clock."""

    def __init__(self, scoring_settings: ScoringSettings) -> None:
        self.model = ScoringModel.from_settings(scoring_settings)
        self.outbox = Outbox(scoring_settings, infrastructure)
        self.engine = create_engine(scoring_settings.database_url.get_secret_value(), pool_size=4)
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self.now = NOW

        async def score_at_now(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
            await service.score_events(
                session, events, model=self.model, outbox=self.outbox, now=self.now
            )

        self.registry = BatchRegistry(score_at_now, frozenset(handlers.SCORED_TYPES))

    async def apply(self, events: Sequence[CloudEvent[Any]]) -> None:
        """As the consumer runner applies one fetched batch: ids claimed, then the handler."""
        async with transaction(self.sessionmaker) as session:
            await apply_batch(
                session, self.registry, events,
                processed_events=infrastructure.processed_events, consumer="scoring-test",
            )  # fmt: skip

    async def profile(self, fan_key: str) -> FanProfile:
        async with self.sessionmaker() as session:
            found = await queries.get_profile(session, fan_key)
        assert found is not None
        return found

    async def outbox_count(self) -> int:
        async with self.sessionmaker() as session:
            rows = await session.execute(select(infrastructure.outbox.c.id))
            return len(rows.all())


@pytest.fixture
async def scoring(settings_for: Callable[..., Any]) -> AsyncIterator[Scoring]:
    harness = Scoring(settings_for(ScoringSettings))
    yield harness
    await harness.engine.dispose()


def folded(
    events: Sequence[CloudEvent[FanEvent]], model: ScoringModel, now: datetime
) -> ProfileRow:
    row = new_profile(events[0].data, now=now)
    for event in events:
        row = row.applied(event.data, model)
    return row.scored(model, model.unranked(row.platform, row.account), now=now)


class TestProfilesFromBatches:
    async def test_the_state_round_trips_exactly_and_components_add_up(
        self, scoring: Scoring
    ) -> None:
        events = history("f1")
        await scoring.apply(events)
        stored = await scoring.profile(events[0].data.fan_key)
        expected = folded(events, scoring.model, NOW)
        assert FanState.from_dict(stored.state) == expected.state
        assert stored.engagement_numerator == expected.engagement_numerator > 2**64
        assert stored.interaction_count == 8 + 14 + 1 + 1
        assert (stored.first_seen_at, stored.last_seen_at) == (START, START + timedelta(hours=39))
        out = FanProfileOut.of(stored)
        assert out.scores["engagement"].total == expected.engagement > 0
        for name, score in out.scores.items():
            assert sum(score.components.values(), Decimal(0)) == score.total, name
        assert stored.paid_orders == 1
        assert stored.monetary_cents == 20_000

    async def test_a_batch_announces_each_changed_fan_once(self, scoring: Scoring) -> None:
        first, second = history("f2"), history("f3")
        await scoring.apply([*first, *second])
        assert await scoring.outbox_count() == 2, "one snapshot per new fan, not per event"

    async def test_each_fan_of_a_batch_is_written_with_its_own_tags(
        self, settings_for: Callable[..., Any]
    ) -> None:
        harness = Scoring(settings_for(ScoringSettings, tag_rules={"tea": {"keywords": ["tea"]}}))
        texts = {"drinker": "milk tea", "other": "hello"}
        data = [MessageReceived(**fan(user, 1), message_id="m1", text=text)
                for user, text in texts.items()]  # fmt: skip
        try:
            await harness.apply(
                [CloudEvent.of(d, id=uuid.uuid4().hex, source="test", subject=d.fan_key)
                 for d in data]
            )  # fmt: skip
            assert (await harness.profile("weibo:brand:drinker")).tags == ["tea"]
            assert (await harness.profile("weibo:brand:other")).tags == []
        finally:
            await harness.engine.dispose()

    async def test_events_applied_again_change_nothing(self, scoring: Scoring) -> None:
        events = history("f4")
        await scoring.apply(events)
        before = FanProfileOut.of(await scoring.profile(events[0].data.fan_key))
        await scoring.apply(events[:5])
        after = FanProfileOut.of(await scoring.profile(events[0].data.fan_key))
        assert after == before
        assert await scoring.outbox_count() == 1

    @settings(
        max_examples=6, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )  # fmt: skip
    @given(order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 30), max_size=4))
    async def test_any_order_batching_and_repetition_yield_the_same_profile(
        self, scoring: Scoring, order: Any, cuts: list[int]
    ) -> None:
        events = history(f"p-{uuid.uuid4().hex[:8]}")
        shuffled = [*events, *order.sample(events, 5)]
        order.shuffle(shuffled)
        bounds = [0, *sorted(cuts), len(shuffled)]
        for start, end in itertools.pairwise(bounds):
            if start < end:
                await scoring.apply(shuffled[start:end])
        stored = FanProfileOut.of(await scoring.profile(events[0].data.fan_key))
        expected = folded(events, scoring.model, NOW)
        assert stored.scores["engagement"].total == expected.engagement
        assert stored.scores["priority"].total == expected.priority
        assert stored.tags == list(expected.tags)
        assert stored.interaction_count == expected.state.activity.interactions


def drift_refreshes() -> float:
    return REGISTRY.get_sample_value("scrm_scoring_drift_refreshes_total") or 0.0


def messages(user: str, count: int, *, account: str = "brand") -> list[CloudEvent[FanEvent]]:
    data = [
        MessageReceived(**fan(user, h, account=account), message_id=f"m{h}") for h in range(count)
    ]
    return [CloudEvent.of(d, id=uuid.uuid4().hex, source="test", subject=d.fan_key) for d in data]


class TestCutPointsAndTiers:
    async def test_a_refresh_ranks_the_brands_fans_and_announces_who_moved(
        self, scoring: Scoring
    ) -> None:
        for user, count in (("quiet", 0), ("some", 1), ("more", 3), ("most", 9)):
            await scoring.apply(messages(user, count) or history(user)[-1:])
        published = await scoring.outbox_count()
        async with transaction(scoring.sessionmaker) as session:
            moved = await standings.refresh_cut_points(
                session, model=scoring.model, outbox=scoring.outbox, now=NOW
            )
        assert moved == [("weibo", "brand")]
        users = ("quiet", "some", "more", "most")
        tiers = [(await scoring.profile(f"weibo:brand:{user}")).tier for user in users]
        # 4 fans: the bottom 20% is the one at 0, the top 5% would be above the top fan
        assert tiers == ["silent", "occasional", "occasional", "occasional"]
        assert await scoring.outbox_count() == published + 3
        async with scoring.sessionmaker() as session:
            stored = await session.get(BrandCutPoints, ("weibo", "brand"))
        assert stored is not None
        assert stored.wallet["currency"] == "CNY"

    async def test_an_unmoved_refresh_moves_nobody(self, scoring: Scoring) -> None:
        await scoring.apply(messages("a", 2) + messages("b", 5))
        for expected in ([("weibo", "brand")], []):
            async with transaction(scoring.sessionmaker) as session:
                moved = await standings.refresh_cut_points(
                    session, model=scoring.model, outbox=scoring.outbox, now=NOW
                )
            assert moved == expected

    async def test_the_refresher_moves_every_fan_a_page_at_a_time(self, scoring: Scoring) -> None:
        """More fans than a page move (`standings.RETIER_PAGE`): each page in a transaction of
        its own, and every fan ends at its tier; a second refresh moves nobody."""
        fans = 2 * standings.RETIER_PAGE + 50
        await scoring.apply([e for n in range(fans) for e in messages(f"fan-{n:03}", n % 5 + 1)])
        refresher = StandingsRefresher(
            interval=60, model=scoring.model, sessionmaker=scoring.sessionmaker,
            outbox=scoring.outbox,
        )  # fmt: skip
        await refresher.refresh_cut_points(now=NOW)
        tiers = [(await scoring.profile(f"weibo:brand:fan-{n:03}")).tier for n in range(fans)]
        assert {tier: tiers.count(tier) for tier in set(tiers)} == {
            "silent": fans // 5,
            "occasional": fans - fans // 5,
        }  # 1 message for a fifth of them, more for the others, all alike within 5%
        published = await scoring.outbox_count()
        async with transaction(scoring.sessionmaker) as session:
            moved = await standings.refresh_cut_points(
                session, model=scoring.model, outbox=scoring.outbox, now=NOW
            )
        assert moved == []
        assert await scoring.outbox_count() == published

    async def test_a_brand_whose_fans_drift_is_refreshed_before_its_turn(
        self, scoring: Scoring, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Fresh events lift 60 of a brand's 100 fans above its cut points (the drift's least
        is 50): the refresher's next tick recomputes them, an hour before their turn, and the
        fans end in the tiers the brand's distribution gives them."""
        monkeypatch.setattr(refresher_module, "DRIFT_SPACING_SECONDS", 0.0)
        brand = f"drift-{uuid.uuid4().hex[:8]}"  # the process counts drift by brand
        keys = [f"fan-{n:03}" for n in range(100)]
        await scoring.apply([e for key in keys for e in messages(key, 1, account=brand)])
        refresher = StandingsRefresher(
            interval=3600, model=scoring.model, sessionmaker=scoring.sessionmaker,
            outbox=scoring.outbox, drift_share=0.01,
        )  # fmt: skip
        await refresher.tick()  # the first: every brand, as at start
        await scoring.apply([e for key in keys[:60] for e in messages(key, 2, account=brand)[1:]])
        lifted = await self.tiers(scoring, brand, keys)
        assert lifted == {"silent": 40, "leader": 60}, "above the cut points of one message"
        before = drift_refreshes()
        await refresher.tick()
        assert drift_refreshes() == before + 1
        assert await self.tiers(scoring, brand, keys) == {"silent": 40, "occasional": 60}
        await refresher.tick()
        assert drift_refreshes() == before + 1, "no new drift"

    async def test_a_whole_refresh_another_replica_held_off_is_made_at_the_next_tick(
        self, scoring: Scoring
    ) -> None:
        brand = f"held-{uuid.uuid4().hex[:8]}"  # no drift counted for it: only its turn
        await scoring.apply(messages("a", 2, account=brand) + messages("b", 5, account=brand))
        refresher = StandingsRefresher(
            interval=3600, model=scoring.model, sessionmaker=scoring.sessionmaker,
            outbox=scoring.outbox, drift_share=0.01,
        )  # fmt: skip
        async with transaction(scoring.sessionmaker) as other:  # another replica's refresh
            assert await repository.try_lock(other, refresher_module.CUT_POINTS_LOCK)
            await refresher.tick()
        async with scoring.sessionmaker() as session:
            assert await session.get(BrandCutPoints, ("weibo", brand)) is None
        await refresher.tick()
        async with scoring.sessionmaker() as session:
            assert await session.get(BrandCutPoints, ("weibo", brand)) is not None

    @staticmethod
    async def tiers(scoring: Scoring, brand: str, keys: Sequence[str]) -> dict[str, int]:
        tiers = [(await scoring.profile(f"weibo:{brand}:{key}")).tier for key in keys]
        return {tier: tiers.count(tier) for tier in set(tiers)}


class TestLifecycleSweep:
    async def test_time_moves_fans_on_and_each_move_is_announced(self, scoring: Scoring) -> None:
        await scoring.apply(messages("idle", 1))
        published = await scoring.outbox_count()
        stages = []
        for days in (10, 40, 100, 101):
            async with transaction(scoring.sessionmaker) as session:
                await standings.sweep_lifecycles(
                    session, model=scoring.model, outbox=scoring.outbox,
                    now=START + timedelta(days=days), limit=10,
                )  # fmt: skip
            stages.append((await scoring.profile("weibo:brand:idle")).lifecycle)
        assert stages == ["active", "at_risk", "lapsed", "lapsed"]
        assert await scoring.outbox_count() == published + 3


class TestTwoConsumersOnANewFan:
    async def test_the_later_write_is_undone_and_applied_again_not_written_over(
        self, scoring: Scoring
    ) -> None:
        """Two transactions both find no profile for a fan (its events on two partitions, as
        after partitions were added): the later one must not write over the first one's."""
        first, second = messages("new", 2)
        claims = {"processed_events": infrastructure.processed_events}

        async def apply(session: AsyncSession, event: CloudEvent[Any], who: str) -> None:
            await apply_batch(session, scoring.registry, [event], consumer=who, **claims)

        async with transaction(scoring.sessionmaker) as one:
            await apply(one, first, "one")
            async with transaction(scoring.sessionmaker) as two:
                other = asyncio.create_task(apply(two, second, "two"))
                await asyncio.sleep(0.3)  # `two` waits on the row `one` is inserting
                assert not other.done()
                await one.commit()
                with pytest.raises(repository.ProfileCreatedMeanwhile):
                    await other
                await two.rollback()
        await scoring.apply([second])  # applied again, as the consumer does after a failure
        assert (await scoring.profile("weibo:brand:new")).interaction_count == 2


class TestRollingRescore:
    async def test_fans_who_do_nothing_are_rescored_round_and_round(self, scoring: Scoring) -> None:
        """Engagement decays and recency ages with time alone: the refresher's turns rescore
        every profile in key order, a batch at a time, and start again."""
        for user in ("a", "b", "c"):
            await scoring.apply(history(user))
        fresh = {u: (await scoring.profile(f"weibo:brand:{u}")).engagement for u in "abc"}
        later, key, turns = NOW + timedelta(days=28), "", []
        for _ in range(3):
            async with transaction(scoring.sessionmaker) as session:
                following = await standings.rescore_after(
                    session, key, model=scoring.model, outbox=scoring.outbox, now=later, limit=2,
                )  # fmt: skip
            turns.append(following)
            key = following or ""
        assert turns == ["weibo:brand:b", None, "weibo:brand:b"]
        for user in "abc":
            profile = await scoring.profile(f"weibo:brand:{user}")
            assert profile.scored_at == later
            # two half-lives later: a quarter of the points (hundredths, rounded)
            assert abs(profile.engagement - fresh[user] / 4) <= Decimal("0.01"), user


async def test_the_scores_migration_is_reversible(database_url: str) -> None:
    config = alembic_config("scoring", database_url)
    await asyncio.to_thread(command.downgrade, config, "0001")
    await asyncio.to_thread(command.upgrade, config, "head")
