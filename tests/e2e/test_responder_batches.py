"""responder takes fans' messages a fetched batch at a time (`inbox`): the same log, applied in
batches of up to 200 and one record a fetch, gives the same conversations, messages, clocks and
SLA events. The log has what a batch must take in order: several messages on one conversation
(some arriving late), threads of one fan, a comment, a message that asks nothing, a reply
reported failed in between, redelivered records, and a fan scoring calls a KOL."""

import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.contracts import CommentCreated, MessageReceived, ProfileUpdated
from shared.db import create_engine
from shared.events import CloudEvent, decode
from shared.kafka import EventProducer
from shared.topics import EVENTS, SLA, ensure_topics
from tests.conftest import Infrastructure, fresh_database
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CONVERSATIONS = """
SELECT fan_key, thread_key, status, opened_at, last_inbound_at, unanswered_count, answered,
       awaiting_since, priority, language, queue_due
FROM responder.conversations ORDER BY fan_key, thread_key"""
MESSAGES = """
SELECT c.fan_key, c.thread_key, m.ref, m.at, m.message_type, m.text
FROM responder.conversation_messages m JOIN responder.conversations c ON c.id = m.conversation_id
ORDER BY m.ref"""
CLOCKS = """
SELECT c.fan_key, c.thread_key, k.target, k.policy_id, k.started_at, k.deadline, k.warning_at,
       k.ended_at, k.outcome
FROM responder.sla_clocks k JOIN responder.conversations c ON c.id = k.conversation_id
ORDER BY 1, 2, 3, 5"""


def event_log(seed: int = 11) -> list[CloudEvent[Any]]:
    """Messages of six fans on two accounts, shuffled across fans, each fan's in the order sent
    except where one arrives late; some records twice."""
    rng = random.Random(seed)
    per_fan: list[list[CloudEvent[Any]]] = []
    for n in range(6):
        user, account = f"fan{n}", ("brand-a", "brand-b")[n % 2]
        minutes = [rng.uniform(0, 30) for _ in range(5)]
        events = [_message(account, user, m, thread=("dm", "order-7")[k % 2 if n < 2 else 0])
                  for k, m in enumerate(sorted(minutes))]  # fmt: skip
        events[2], events[3] = events[3], events[2]  # one arrives after a later one
        events.append(_comment(account, user, rng.uniform(0, 30)))
        events.insert(1, _message(account, user, 1, kind="event"))
        per_fan.append(events)
    log: list[CloudEvent[Any]] = []
    while any(per_fan):
        log.append(rng.choice([events for events in per_fan if events]).pop(0))
    for again in rng.sample(log, 5):
        log.insert(rng.randrange(log.index(again) + 1, len(log) + 1), again)
    return log


def _message(account: str, user: str, minutes: float, *, thread: str = "dm",
             kind: str = "text") -> CloudEvent[Any]:  # fmt: skip
    data = MessageReceived(
        platform="weibo", account=account, user_id=user, message_id=uuid.uuid4().hex,
        occurred_at=T0 + timedelta(minutes=minutes), text=f"{user} asks {minutes:.1f}",
        thread_ref=thread, message_type=kind, language="zh-CN",
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def _comment(account: str, user: str, minutes: float) -> CloudEvent[Any]:
    data = CommentCreated(
        platform="weibo", account=account, user_id=user, comment_id=uuid.uuid4().hex,
        post_id="p-1", occurred_at=T0 + timedelta(minutes=minutes), text="退货怎么办理",
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def kol_standing() -> CloudEvent[ProfileUpdated]:
    data = ProfileUpdated(
        fan_key="weibo:brand-a:fan0", interaction_count=3, first_seen_at=T0, last_seen_at=T0,
        tier="leader", role="kol", priority=90,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


async def applied(
    settings: ResponderSettings, log: list[CloudEvent[Any]]
) -> dict[str, list[tuple[Any, ...]]]:
    """What one responder stored and told of the log: the KOL's standing applied first, then the
    log published whole while responder is down, so that it comes in the fetches the settings
    allow."""
    producer = EventProducer(settings)
    await producer.start()
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=2)
    try:
        await producer.publish(kol_standing())
        async with running(create_app(settings)):
            sql = "SELECT count(*) FROM responder.fan_standings"
            await eventually(lambda: _count(engine, sql, expect=1))
        for event in log:
            await producer.publish(event)
        async with running(create_app(settings)):
            asking = {
                event.id for event in log if getattr(event.data, "message_type", "") != "event"
            }
            sql = "SELECT count(*) FROM responder.conversation_messages"
            await eventually(lambda: _count(engine, sql, expect=len(asking)), within=30)
            # the log may end with records that store no message (redeliveries, a non-question)
            await eventually(lambda: _all_finished(settings, len(log)))
        async with engine.connect() as connection:
            stored = {
                query: [tuple(row) for row in await connection.execute(text(query))]
                for query in (CONVERSATIONS, MESSAGES, CLOCKS)
            }
        return stored | {"told": await told(settings)}
    finally:
        await producer.stop()
        await engine.dispose()


async def told(settings: ResponderSettings) -> list[tuple[Any, ...]]:
    """The SLA events on the topic, by fan, target and kind, with how many of each."""
    records = await read_topic(settings.kafka_bootstrap_servers, settings.topic(SLA),
                               expect=10_000, within=3)  # fmt: skip
    events = [decode(record.headers, record.value) for record in records]
    kinds = Counter((e.data.fan_key, e.data.target, e.type.split(".")[2]) for e in events)
    return sorted((*kind, count) for kind, count in kinds.items())


def fetched(settings: ResponderSettings) -> tuple[float, float]:
    """How many fetches of the events topic responder applied, and their records."""
    labels = {"service": "responder", "topic": settings.topic(EVENTS)}
    fetches = REGISTRY.get_sample_value("scrm_consumer_batch_size_count", labels) or 0.0
    return fetches, REGISTRY.get_sample_value("scrm_consumer_batch_size_sum", labels) or 0.0


async def _all_finished(settings: ResponderSettings, records: int) -> bool:
    topic = settings.topic(EVENTS)
    finished = [
        REGISTRY.get_sample_value("scrm_consumer_events_total",
                                  {"service": "responder", "topic": topic, "outcome": outcome})
        for outcome in ("handled", "duplicate", "ignored", "deadlettered")
    ]  # fmt: skip
    return sum(count or 0.0 for count in finished) >= records


async def _count(engine: Any, sql: str, *, expect: int) -> bool:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one()) == expect


def batches_failed(settings: ResponderSettings) -> float:
    labels = {"service": "responder", "topic": settings.topic(EVENTS)}
    return REGISTRY.get_sample_value("scrm_consumer_batches_failed_total", labels) or 0.0


async def test_a_log_applied_in_batches_gives_what_one_record_a_fetch_gives(
    settings_for: Callable[..., Any], infrastructure: Infrastructure, topic_prefix: str,
) -> None:  # fmt: skip
    log = event_log()
    # no deadline passes: the clocks are compared as the messages left them
    overrides = {"clock": "simulated", "simulated_start": T0 - timedelta(minutes=1)}
    batched = settings_for(ResponderSettings, consumer_max_batch=200,
                           consumer_fetch_max_wait_ms=1000, **overrides)  # fmt: skip
    one_prefix = f"{topic_prefix}one."
    await ensure_topics(infrastructure.bootstrap_servers, prefix=one_prefix, partitions=3)
    async with fresh_database(infrastructure) as second_database:
        one_at_a_time = settings_for(
            ResponderSettings, consumer_max_batch=1, topic_prefix=one_prefix,
            database_url=second_database, **overrides,
        )  # fmt: skip
        expected = await applied(one_at_a_time, log)
    found = await applied(batched, log)
    # each fan: its direct messages and its comment (no thread); the first two, a second thread
    assert len(expected[CONVERSATIONS]) == 6 * 2 + 2
    assert found == expected
    assert ("weibo:brand-a:fan0", "first_reply", "started", 3) in found["told"]
    policies = {(clock[0], clock[3]) for clock in found[CLOCKS] if clock[2] == "first_reply"}
    assert ("weibo:brand-a:fan0", "kols") in policies, "the KOL's standing was matched"
    assert ("weibo:brand-b:fan1", "default") in policies
    assert batches_failed(batched) == 0, "no batch fell back to one event at a time"
    fetches, records = fetched(batched)
    assert records >= len(log)
    assert fetches <= 10, "the batched run took the log in few fetches"
    assert fetched(one_at_a_time) == (len(log), len(log)), "the other, one record a fetch"
