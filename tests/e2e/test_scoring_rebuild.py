"""scoring's rebuild as an operator runs it (``python -m services.scoring rebuild``, its settings
from the environment): the events topic replayed into fresh tables while the service runs. It
gives the profiles the service made (the two compared at one instant), other settings give
theirs, and a swap puts the rebuilt tables under the running service."""

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring import handlers, standings
from services.scoring.__main__ import main
from services.scoring.config import ScoringSettings
from services.scoring.coupon_signals import SCORED_COUPON_TYPES
from services.scoring.domain import ScoringModel
from services.scoring.main import create_app
from services.scoring.metrics import REBUILD_REGISTRY
from services.scoring.models import BrandCutPoints, FanProfile, ReferralFriend, infrastructure
from services.scoring.repository import profile_row
from services.scoring.scores.facts import Referrals
from services.scoring.scores.state import FanState
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    FanFields,
    FanFollowed,
    FanLabelled,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    Platform,
    ReactionAdded,
    ReplyDelivered,
)
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent, KafkaRecord
from shared.kafka import EventProducer
from shared.migrate import alembic_config
from shared.outbox import Outbox
from shared.topics import EVENTS
from stack.processes import free_port
from tests.e2e.test_scoring_coupons import claim, reward
from tests.helpers import eventually, running

pytestmark = pytest.mark.e2e
START = datetime(2026, 11, 2, 8, tzinfo=UTC)
AT = START + timedelta(days=14)  # the instant both sides are scored at
SOLO = "weibo:brand-a:solo"  # one message, 14 days before AT
BRANDS: tuple[tuple[Platform, str], ...] = (
    ("weibo", "brand-a"),
    ("weibo", "brand-b"),
    ("line", "brand-c"),
)
TEXTS = ("tea please", "hello", "where is my order", "Milk TEA?")
RETUNED = {  # a half-life and a tag rule: neither applies to the past without a replay
    "SCORING_ENGAGEMENT__HALF_LIFE_DAYS": "7",
    "SCORING_TAG_RULES": json.dumps({"tea-lover": {"keywords": ["tea"]}}),
}
# What the events alone decide, whatever the instant they are read at.
STATE_COLUMNS = (
    "platform", "account", "state", "interaction_count", "first_seen_at", "last_seen_at",
    "first_active_at", "last_active_at", "engagement_numerator", "paid_orders", "monetary_cents",
)  # fmt: skip


def history(platform: Platform, account: str, user: str, rng: random.Random) -> list[FanEvent]:
    """A fan's mixed events over ten days; one kind scoring does not read."""

    def fields() -> FanFields:
        at = START + timedelta(hours=rng.uniform(0, 240))
        return FanFields(platform=platform, account=account, user_id=user,
                         occurred_at=at, follower_count=rng.randrange(100, 50_000))  # fmt: skip

    paid = rng.randrange(1_000, 90_000)
    return [
        *(MessageReceived(**fields(), message_id=f"m{n}", text=rng.choice(TEXTS))
          for n in range(rng.randrange(1, 9))),
        *(ReactionAdded(**fields(), target_id=f"p{n}", reaction="like")
          for n in range(rng.randrange(0, 6))),
        CommentCreated(**fields(), comment_id="c1", text="nice", is_mention=rng.random() < 0.5),
        ContentShared(**fields(), content_id="s1", reach=rng.randrange(10, 5_000)),
        FanFollowed(**fields()),
        OrderPaid(**fields(), order_id="o1", amount_cents=paid, currency="CNY"),
        OrderRefunded(**fields(), order_id="o1", amount_cents=paid // 4, currency="CNY"),
        ReplyDelivered(**fields(), reply_id="r1"),
    ]  # fmt: skip


def event(data: FanEvent) -> CloudEvent[FanEvent]:
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def event_log(seed: int = 11) -> list[CloudEvent[FanEvent]]:
    """Three fans of each of three brands and a fan of one message, shuffled (event times out
    of order, also beyond the engagement fold horizon), eight of them on the topic twice."""
    rng = random.Random(seed)
    data = [item for platform, account in BRANDS for n in range(3)
            for item in history(platform, account, f"fan{n}", rng)]  # fmt: skip
    solo = MessageReceived(platform="weibo", account="brand-a", user_id="solo",
                           occurred_at=AT - timedelta(days=14), message_id="s1")  # fmt: skip
    events = [event(item) for item in [*data, solo]]
    rng.shuffle(events)
    for copy in rng.sample(events, 8):
        events.insert(rng.randrange(events.index(copy) + 1, len(events) + 1), copy)
    return events


def red_packets() -> list[CloudEvent[Any]]:
    """brand-a's fan0 refers fan1 (who claims twice, one claim on the topic twice), fan2 and a
    newcomer with no events of their own; one reward does not tell the order's amount."""

    def at(hours: float) -> dict[str, Any]:
        return {"at": START + timedelta(hours=hours), "account": "brand-a"}

    twice = claim("fan1", "fan0", **at(30))
    return [
        claim("fan1", "fan0", **at(2)), twice, claim("fan2", "fan0", **at(50)), twice,
        claim("newcomer", "fan0", **at(70)), claim("newcomer", "fan1", **at(71)),
        reward("fan0", "fan1", 30_000, **at(90)), reward("fan0", "newcomer", None, **at(99)),
    ]  # fmt: skip


def tea_drinkers(events: Sequence[CloudEvent[FanEvent]]) -> set[str]:
    messages = [item.data for item in events if isinstance(item.data, MessageReceived)]
    return {data.fan_key for data in messages if "tea" in (data.text or "").lower()}


def first_message(events: Sequence[CloudEvent[FanEvent]], fan_key: str) -> CloudEvent[FanEvent]:
    return next(
        item for item in events
        if item.data.fan_key == fan_key and isinstance(item.data, MessageReceived)
    )  # fmt: skip


def later_message(fan_key: str) -> CloudEvent[FanEvent]:
    platform, account, user = fan_key.split(":")
    return event(MessageReceived(platform=platform, account=account, user_id=user,
                                 occurred_at=AT, message_id="later"))  # fmt: skip


def head_revision(settings: ScoringSettings) -> str | None:
    config = alembic_config("scoring", settings.database_url.get_secret_value())
    return ScriptDirectory.from_config(config).get_current_head()


class Deployment:
    """The test's broker and database as scoring's operator meets them: the service, the
    rebuild command, and the tables."""

    def __init__(self, settings: ScoringSettings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings = settings
        self._monkeypatch = monkeypatch
        self.engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)

    @asynccontextmanager
    async def live(
        self, settings: ScoringSettings | None = None
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with running(create_app(settings or self.settings)) as client:
            yield client

    async def publish(
        self, events: Sequence[CloudEvent[Any]], *, garbage: Sequence[bytes] = ()
    ) -> None:
        """`events` on the events topic, then `garbage`: records that are no CloudEvent."""
        producer = EventProducer(self.settings)
        await producer.start()
        try:
            for item in events:
                await producer.publish(item)
            for value in garbage:
                record = KafkaRecord(key=b"weibo:brand-a:fan0", value=value, headers=[])
                await producer.send(self.settings.topic(EVENTS), record)
        finally:
            await producer.stop()

    async def consumed(self, events: Sequence[CloudEvent[Any]]) -> None:
        """Until the service has applied every scored event of `events`."""
        applied = (*handlers.SCORED_TYPES, FanLabelled, *SCORED_COUPON_TYPES)
        scored = {item.id for item in events if type(item.data) in applied}
        processed = infrastructure.processed_events

        async def claims() -> bool:
            async with self.engine.connect() as connection:
                count = await connection.scalar(select(func.count()).select_from(processed))
            return count == len(scored)

        await eventually(claims)

    async def rebuild(self, *arguments: str, env: dict[str, str] | None = None) -> int:
        """`python -m services.scoring rebuild …` with the deployment's environment."""
        settings = self.settings
        environment = {
            "SCRM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "SCRM_DATABASE_URL": settings.database_url.get_secret_value(),
            "SCRM_TOPIC_PREFIX": settings.topic_prefix,
            "SCRM_LOG_LEVEL": "WARNING",
            "SCRM_LOG_JSON": "false",
            **(env or {}),
        }
        for name, value in environment.items():
            self._monkeypatch.setenv(name, value)
        return await asyncio.to_thread(main, ["rebuild", *arguments])

    def _in(self, schema: str) -> AsyncEngine:
        return self.engine.execution_options(schema_translate_map={"scoring": schema})

    async def profiles(self, schema: str = "scoring") -> dict[str, dict[str, Any]]:
        table = FanProfile.__table__
        async with self._in(schema).connect() as connection:
            rows = (await connection.execute(select(table))).mappings()
            return {row["fan_key"]: {k: v for k, v in row.items() if k != "updated_at"}
                    for row in rows}  # fmt: skip

    async def cut_points(self, schema: str = "scoring") -> dict[tuple[str, str], Any]:
        async with self._in(schema).connect() as connection:
            rows = (await connection.execute(select(BrandCutPoints.__table__))).mappings()
            return {(row["platform"], row["account"]): dict(row) for row in rows}

    async def friends(self, schema: str = "scoring") -> set[tuple[str, str]]:
        async with self._in(schema).connect() as connection:
            rows = await connection.execute(select(ReferralFriend.__table__))
            return {(row.referrer_fan_key, row.friend_fan_key) for row in rows}

    async def outbox_rows(self, schema: str) -> int:
        async with self._in(schema).connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(infrastructure.outbox))
        return int(count or 0)

    async def schemas(self) -> set[str]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(text("SELECT nspname FROM pg_namespace"))
            return {row[0] for row in rows if row[0].startswith("scoring")}

    async def migrated_to(self) -> str | None:
        async with self.engine.connect() as connection:
            found = await connection.scalar(text("SELECT version_num FROM scoring.alembic_version"))
        return str(found) if found is not None else None

    async def rescore_live(self, now: datetime) -> None:
        """What the service's refresher does at `now`, then every live profile scored at it."""
        model = ScoringModel.from_settings(self.settings)
        outbox = Outbox(self.settings, infrastructure)
        async with transaction(create_sessionmaker(self.engine)) as session:
            await standings.refresh_cut_points(session, model=model, outbox=outbox, now=now)
            rows = [profile_row(profile) for profile in await session.scalars(select(FanProfile))]
            await standings.rescore(session, rows, model=model, now=now)


@pytest.fixture
async def deployment(
    settings_for: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Deployment]:
    # The refresher runs once at start, then stays out of the comparisons.
    settings: ScoringSettings = settings_for(ScoringSettings, cut_points_refresh_seconds=3600)
    harness = Deployment(settings, monkeypatch)
    yield harness
    await harness.engine.dispose()


def gauge(name: str, **labels: str) -> float | None:
    return REBUILD_REGISTRY.get_sample_value(name, labels)


class TestRebuild:
    async def test_the_rebuilt_profiles_are_the_ones_the_service_made(
        self, deployment: Deployment
    ) -> None:
        events = event_log()
        labelled = events[0].data.fan_key
        # Decided before the fan's events are applied (and, in the rebuild, read first).
        decision = CloudEvent.of(
            FanLabelled(fan_key=labelled, decided_at=AT, role="employee", tags=("press",)),
            id=uuid.uuid4().hex, source="test", subject=labelled,
        )  # fmt: skip
        red = red_packets()
        await deployment.publish([decision, *events, *red])
        async with deployment.live():
            await deployment.consumed([decision, *events, *red])
            assert await deployment.rebuild("--now", AT.isoformat(), "--batch-size", "7") == 0
        live, rebuilt = await deployment.profiles(), await deployment.profiles("scoring_rebuild")
        assert rebuilt[labelled]["role"] == "employee"
        assert "press" in rebuilt[labelled]["tags"]
        assert len(rebuilt) == 3 * 3 + 1 + 1, "and the newcomer"
        assert FanState.from_dict(rebuilt["weibo:brand-a:fan0"]["state"]).referrals == (
            Referrals(friend_claims=4, friends_reached=3, first_orders=2, first_order_cents=30_000)
        )
        assert await deployment.friends("scoring_rebuild") == await deployment.friends()
        for fan_key, profile in rebuilt.items():
            for name in STATE_COLUMNS:
                assert profile[name] == live[fan_key][name], (fan_key, name)
        await deployment.rescore_live(AT)
        assert await deployment.profiles() == rebuilt
        assert await deployment.cut_points() == await deployment.cut_points("scoring_rebuild")
        assert len({profile["tier"] for profile in rebuilt.values()}) > 1
        assert await deployment.outbox_rows("scoring_rebuild") == 0, "it announces nothing"

    async def test_its_progress_is_on_its_gauges(self, deployment: Deployment) -> None:
        events = event_log(seed=3)
        await deployment.publish(events, garbage=[b"not a cloud event"])
        port = str(free_port())
        assert await deployment.rebuild("--log-every", "10", "--metrics-port", port) == 0
        applied = (*handlers.SCORED_TYPES, FanLabelled)
        scored = {item.id for item in events if type(item.data) in applied}
        assert gauge("scrm_scoring_rebuild_events_to_read") == len(events) + 1
        assert gauge("scrm_scoring_rebuild_events_read") == len(events) + 1
        assert gauge("scrm_scoring_rebuild_events_applied") == len(scored)
        assert gauge("scrm_scoring_rebuild_events_skipped") == 1
        assert gauge("scrm_scoring_rebuild_profiles_rescored") == 3 * 3 + 1
        assert gauge("scrm_scoring_rebuild_phase", phase="done") == 1
        assert gauge("scrm_scoring_rebuild_phase", phase="reading") == 0

    async def test_other_settings_and_a_rebuild_give_their_answer(
        self, deployment: Deployment
    ) -> None:
        events = event_log()
        await deployment.publish(events)
        async with deployment.live():
            await deployment.consumed(events)
        code = await deployment.rebuild("--schema", "scoring_retuned", "--now", AT.isoformat(),
                                        env=RETUNED)  # fmt: skip
        assert code == 0
        await deployment.rescore_live(AT)
        live, retuned = await deployment.profiles(), await deployment.profiles("scoring_retuned")
        # One message of weight 3: one half-life old at 14 days, two at 7.
        assert live[SOLO]["engagement"] == Decimal("1.50")
        assert retuned[SOLO]["engagement"] == Decimal("0.75")
        drinkers = {key for key, profile in retuned.items() if "tea-lover" in profile["tags"]}
        assert drinkers == tea_drinkers(events) != set()
        assert not any("tea-lover" in profile["tags"] for profile in live.values())
        for fan_key, profile in retuned.items():
            assert profile["interaction_count"] == live[fan_key]["interaction_count"]


class TestSwap:
    async def test_the_running_service_goes_on_in_the_rebuilt_tables(
        self, deployment: Deployment
    ) -> None:
        events = event_log()
        await deployment.publish(events)
        fan_key = sorted(tea_drinkers(events))[0]
        async with deployment.live() as client:
            await deployment.consumed(events)
            assert await deployment.rebuild("--swap") == 0
            before = (await client.get(f"/v1/fans/{fan_key}")).json()
            # One of the fan's events again (the rebuild applied it), and a new one.
            await deployment.publish([first_message(events, fan_key), later_message(fan_key)])

            async def counted() -> bool:
                found = (await client.get(f"/v1/fans/{fan_key}")).json()
                return bool(found["interaction_count"] == before["interaction_count"] + 1)

            await eventually(counted)
        assert await deployment.schemas() == {"scoring", "scoring_previous"}
        previous = await deployment.profiles("scoring_previous")
        assert previous[fan_key]["interaction_count"] == before["interaction_count"]
        assert await deployment.migrated_to() == head_revision(deployment.settings)

    async def test_new_settings_go_live_with_the_tables_rebuilt_by_them(
        self, deployment: Deployment, settings_for: Callable[..., Any]
    ) -> None:
        events = event_log()
        await deployment.publish(events)
        async with deployment.live():
            await deployment.consumed(events)
        assert await deployment.rebuild("--swap", env=RETUNED) == 0
        retuned: ScoringSettings = settings_for(
            ScoringSettings, engagement={"half_life_days": 7},
            tag_rules={"tea-lover": {"keywords": ["tea"]}},
        )  # fmt: skip
        fan_key = sorted(tea_drinkers(events))[0]
        async with deployment.live(retuned) as client:
            before = (await client.get(f"/v1/fans/{fan_key}")).json()
            await deployment.publish([later_message(fan_key)])

            async def counted() -> bool:
                found = (await client.get(f"/v1/fans/{fan_key}")).json()
                return bool(found["interaction_count"] == before["interaction_count"] + 1)

            await eventually(counted)
        assert "tea-lover" in before["tags"]

    async def test_it_is_refused_when_the_service_applied_events_the_topic_lost(
        self, deployment: Deployment
    ) -> None:
        events = event_log(seed=5)
        await deployment.publish(events)
        async with deployment.live():
            await deployment.consumed(events)
        async with deployment.engine.begin() as connection:  # as if retention had deleted it
            await connection.execute(
                insert(infrastructure.processed_events).values(
                    consumer=deployment.settings.consumer_group, event_id="gone-from-the-topic"
                )
            )
        live = await deployment.profiles()
        assert await deployment.rebuild("--swap") == 1
        assert await deployment.schemas() == {"scoring", "scoring_rebuild"}
        assert await deployment.profiles() == live
        assert len(await deployment.profiles("scoring_rebuild")) == len(live)
