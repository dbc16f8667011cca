"""scoring scaled out: three replicas as processes (``python -m services.scoring``) in one
consumer group, each holding some partitions of the events topic, make the profiles, cut points
and tiers one replica makes of the same events, also when two of them join while the first is
consuming."""

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

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
from shared.topics import EVENTS, ensure_topics
from stack.processes import free_port, spawn, stop_processes
from tests.conftest import Infrastructure, fresh_database
from tests.helpers import eventually, running
from tests.scoring_deployment import STATE_COLUMNS, ScoringDeployment, scored_ids

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6  # as deployed (`topic_partitions`): two for each of three replicas
START = datetime(2026, 11, 2, 8, tzinfo=UTC)
AT = START + timedelta(days=14)  # the instant both deployments are scored at
BRANDS: tuple[tuple[Platform, str], ...] = (
    ("weibo", "brand-a"),
    ("x", "brand-b"),
    ("standard", "shop-c"),
)
FANS_PER_BRAND = 24
TEXTS = ("milk tea please", "hello", "where is my order", "#奶茶# again")
TAG_RULES = {"tea": {"keywords": ["tea"], "hashtags": ["奶茶"]}}
INTERACTIONS = (MessageReceived, CommentCreated, ReactionAdded, ContentShared, FanFollowed)
TRICKLE = 4  # events published at a time while the new replicas join
TRICKLE_PAUSE = 0.2  # the middle third at this pace takes 14 s: longer than replicas take to join


def history(platform: Platform, account: str, user: str, rng: random.Random) -> list[FanEvent]:
    """A fan's mixed events over ten days, in no particular order of time. No kind is over its
    daily cap on a day a later interaction folds (one arriving past the fold horizon would count
    uncapped: the limit the README states); a burst of follows over the cap falls on the fan's
    last day, which nothing folds. One kind scoring does not read."""

    def fields(at: datetime | None = None) -> FanFields:
        at = at or START + timedelta(hours=rng.uniform(0, 240))
        followers = rng.choice([None, rng.randrange(100, 50_000)])
        return FanFields(platform=platform, account=account, user_id=user, occurred_at=at,
                         follower_count=followers)  # fmt: skip

    interactions: list[FanEvent] = [
        *(MessageReceived(**fields(), message_id=f"m{n}", text=rng.choice(TEXTS))
          for n in range(rng.randrange(1, 7))),
        *(ReactionAdded(**fields(), target_id=f"p{n}", reaction="like")
          for n in range(rng.randrange(0, 5))),
        CommentCreated(**fields(), comment_id="c1", text=rng.choice(TEXTS),
                       is_mention=rng.random() < 0.4),
        *(ContentShared(**fields(), content_id=f"s{n}",
                        reach=rng.choice([None, rng.randrange(10, 5_000)]))
          for n in range(rng.randrange(0, 3))),
        FanFollowed(**fields()),
    ]  # fmt: skip
    last = max(item.occurred_at for item in interactions)
    midnight = last.replace(hour=0, minute=0, second=0, microsecond=0)
    burst = [FanFollowed(**fields(midnight + (last - midnight) * rng.random()))
             for _ in range(2 if rng.random() < 0.3 else 0)]  # fmt: skip
    return [*interactions, *burst, *others(fields, interactions[0].occurred_at, rng)]


def others(fields: Callable[..., FanFields], tie: datetime, rng: random.Random) -> list[FanEvent]:
    """What is not an interaction: orders, refunds, an unfollow (reporting its follower count
    at the time of an interaction: a tie), a reply."""
    orders = [
        OrderPaid(**fields(), order_id=f"o{n}", amount_cents=rng.randrange(1_000, 90_000),
                  currency="CNY" if rng.random() < 0.8 else "USD")
        for n in range(rng.randrange(0, 3))
    ]  # fmt: skip
    refunds = [
        OrderRefunded(**fields(), order_id=paid.order_id, amount_cents=paid.amount_cents // 3,
                      currency=paid.currency)
        for paid in orders[:1] if rng.random() < 0.5
    ]  # fmt: skip
    unfollowed = [FanUnfollowed(**fields(tie))] if rng.random() < 0.3 else []
    return [*orders, *refunds, *unfollowed, ReplyDelivered(**fields(), reply_id="r1")]


def event_log(seed: int = 7) -> list[CloudEvent[FanEvent]]:
    """Every brand's fans' events shuffled together, 40 of them on the topic twice."""
    rng = random.Random(seed)
    data = [item for platform, account in BRANDS for n in range(FANS_PER_BRAND)
            for item in history(platform, account, f"fan{n}", rng)]  # fmt: skip
    events = [CloudEvent.of(item, id=uuid.uuid4().hex, source="test", subject=item.fan_key)
              for item in data]  # fmt: skip
    rng.shuffle(events)
    for copy in rng.sample(events, 40):
        events.insert(rng.randrange(events.index(copy) + 1, len(events) + 1), copy)
    return events


def counted_in(events: Sequence[CloudEvent[FanEvent]]) -> tuple[int, int]:
    """The distinct interactions and paid orders of `events`."""
    distinct = {item.id: item.data for item in events}.values()
    return (
        sum(isinstance(data, INTERACTIONS) for data in distinct),
        sum(isinstance(data, OrderPaid) for data in distinct),
    )


def counted(profiles: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """The interactions and paid orders the profiles count."""
    return (
        sum(profile["interaction_count"] for profile in profiles.values()),
        sum(profile["paid_orders"] for profile in profiles.values()),
    )


class Replica:
    """One scoring process, serving on its own port."""

    def __init__(self, settings: ScoringSettings, output: Path) -> None:
        self.port = free_port()
        self.output = output
        self.events_topic = settings.topic(EVENTS)
        with output.open("wb") as log:
            self.process = spawn(
                [sys.executable, "-m", "services.scoring"], stdout=log,
                stderr=subprocess.STDOUT, death_signal=signal.SIGTERM, cwd=ROOT,
                env=environment(settings, self.port),
            )  # fmt: skip

    async def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """The labels and value of each sample of metric `name` on the replica's /metrics."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            text = (await client.get("/metrics")).text
        return [(sample.labels, sample.value)
                for family in text_string_to_metric_families(text)
                for sample in family.samples if sample.name == name]  # fmt: skip

    async def ready(self) -> bool:
        if (code := self.process.poll()) is not None:
            raise AssertionError(f"replica exited with {code}:\n{self.output.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
                return (await client.get("/readyz")).status_code == 200
        return False

    async def partitions(self) -> set[str]:
        """The partitions of the events topic the replica has held (it reports their lag)."""
        lag = await self.samples("scrm_consumer_lag")
        return {labels["partition"] for labels, _ in lag if labels["topic"] == self.events_topic}

    async def applied(self) -> int:
        """How many events of the events topic the replica applied (first claims of their id)."""
        events = await self.samples("scrm_consumer_events_total")
        return int(sum(value for labels, value in events
                       if labels["topic"] == self.events_topic
                       and labels["outcome"] == "handled"))  # fmt: skip


def environment(settings: ScoringSettings, port: int) -> dict[str, str]:
    """`settings` as a replica reads them, from its environment."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCRM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCRM_KAFKA_IDEMPOTENCE": json.dumps(settings.kafka_idempotence),
        "SCRM_DATABASE_URL": settings.database_url.get_secret_value(),
        "SCRM_TOPIC_PREFIX": settings.topic_prefix,
        "SCRM_CONSUMER_SESSION_TIMEOUT_MS": str(settings.consumer_session_timeout_ms),
        "SCRM_LOG_LEVEL": "WARNING",
        "SCRM_LOG_JSON": "false",
        "SCORING_HTTP_PORT": str(port),
        "SCORING_CUT_POINTS_REFRESH_SECONDS": str(settings.cut_points_refresh_seconds),
        "SCORING_TAG_RULES": json.dumps(
            {tag: rule.model_dump(mode="json") for tag, rule in settings.tag_rules.items()}
        ),
    }


class Replicas:
    """The replicas a test started, all stopped (SIGINT, as `make run` stops them: drain,
    commit, leave the group) at its end."""

    def __init__(self, settings: ScoringSettings, folder: Path) -> None:
        self._settings = settings
        self._folder = folder
        self.started: list[Replica] = []

    def start(self) -> Replica:
        output = self._folder / f"replica-{len(self.started) + 1}.log"
        self.started.append(Replica(self._settings, output))
        return self.started[-1]

    async def stop(self) -> list[int]:
        """Their exit statuses (a replica killed after 30 s: -9)."""
        processes = [replica.process for replica in self.started]
        await asyncio.to_thread(stop_processes, processes, signal.SIGINT, 30)
        return [process.returncode for process in processes]


async def holds_partitions(replica: Replica) -> set[str]:
    await eventually(replica.ready, within=60)
    return await eventually(replica.partitions, within=60)


async def trickle(
    deployment: ScoringDeployment, events: Sequence[CloudEvent[Any]], joined: asyncio.Event
) -> None:
    """Publish `events` a few at a time until `joined` is set, then the rest at once: the group
    rebalances while the first replica is consuming."""
    sent = 0
    while sent < len(events) and not joined.is_set():
        await deployment.publish(events[sent : sent + TRICKLE])
        sent += TRICKLE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(joined.wait(), TRICKLE_PAUSE)  # the pace, or joined: on
    await deployment.publish(events[sent:])


async def partition_sizes(bootstrap_servers: str, topic: str) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await consumer.stop()
    return [ends[TopicPartition(topic, p)] for p in range(PARTITIONS)]


async def applied_everything(deployment: ScoringDeployment, events: Sequence[Any]) -> None:
    """Until as many event ids are claimed as `events` has distinct ones scoring applies; then
    exactly as many."""
    expected = len(scored_ids(events))

    async def claimed_all() -> bool:
        return await deployment.claimed() >= expected

    await eventually(claimed_all, within=90)
    assert await deployment.claimed() == expected, "an event id was claimed twice"


async def deployment(
    settings_for: Callable[..., Any], infrastructure: Infrastructure, prefix: str, **settings: Any
) -> ScoringDeployment:
    """A deployment whose topics, named with `prefix`, have `PARTITIONS` partitions."""
    await ensure_topics(infrastructure.bootstrap_servers, prefix=prefix, partitions=PARTITIONS)
    return ScoringDeployment(
        settings_for(ScoringSettings, topic_prefix=prefix, tag_rules=TAG_RULES,
                     cut_points_refresh_seconds=3600, **settings)
    )  # fmt: skip


@pytest.fixture
async def scaled(
    settings_for: Callable[..., Any], infrastructure: Infrastructure, topic_prefix: str
) -> AsyncIterator[ScoringDeployment]:
    """The deployment the replicas share, in the test's database."""
    scaled = await deployment(settings_for, infrastructure, f"{topic_prefix}scaled.")
    yield scaled
    await scaled.dispose()


@pytest.fixture
async def single(
    settings_for: Callable[..., Any], infrastructure: Infrastructure, topic_prefix: str
) -> AsyncIterator[ScoringDeployment]:
    """The deployment of one replica, in a database of its own."""
    async with fresh_database(infrastructure) as database_url:
        single = await deployment(
            settings_for, infrastructure, f"{topic_prefix}single.", database_url=database_url
        )
        yield single
        await single.dispose()


@pytest.fixture
async def replicas(scaled: ScoringDeployment, tmp_path: Path) -> AsyncIterator[Replicas]:
    started = Replicas(scaled.settings, tmp_path)
    try:
        yield started
    finally:
        await started.stop()


async def scale_out_while_consuming(
    scaled: ScoringDeployment, replicas: Replicas, events: Sequence[CloudEvent[FanEvent]]
) -> tuple[list[int], list[int]]:
    """One replica consumes the first third of `events`; two more join while the second third
    trickles in; the last third is published once all three hold partitions. Returns how many
    events each replica had applied before the last third, and once every event was."""
    third = len(events) // 3
    await holds_partitions(replicas.start())
    await scaled.publish(events[:third])
    await eventually(scaled.claimed)
    joined = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(trickle(scaled, events[third : 2 * third], joined))
        await asyncio.gather(holds_partitions(replicas.start()), holds_partitions(replicas.start()))
        joined.set()
    before = [await replica.applied() for replica in replicas.started]
    await scaled.publish(events[2 * third :])
    await applied_everything(scaled, events)
    return before, [await replica.applied() for replica in replicas.started]


class TestThreeReplicas:
    async def test_make_the_profiles_and_tiers_one_replica_makes(
        self, scaled: ScoringDeployment, single: ScoringDeployment, replicas: Replicas,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        events = event_log()
        before, after = await scale_out_while_consuming(scaled, replicas, events)
        assert await replicas.stop() == [0, 0, 0], "a replica did not stop cleanly"
        topic = scaled.settings.topic(EVENTS)
        assert all(await partition_sizes(infrastructure.bootstrap_servers, topic))
        assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
        assert sum(after) == len(scored_ids(events)), "an event was applied twice"

        await single.publish(events)
        async with running(create_app(single.settings)):
            await applied_everything(single, events)

        reference, profiles = await single.profiles(), await scaled.profiles()
        assert len(reference) == len(BRANDS) * FANS_PER_BRAND
        assert counted(profiles) == counted_in(events), "an event was lost or applied twice"
        assert profiles.keys() == reference.keys()
        for fan_key, profile in profiles.items():
            for name in STATE_COLUMNS:
                assert profile[name] == reference[fan_key][name], (fan_key, name)
        await scaled.rescore(AT)
        await single.rescore(AT)
        assert await scaled.profiles() == await single.profiles()
        assert await scaled.cut_points() == await single.cut_points()
        tiers = {profile["tier"] for profile in (await scaled.profiles()).values()}
        assert len(tiers) > 1, tiers
