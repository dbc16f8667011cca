"""responder scaled out: two replicas as processes (``python -m services.responder``) in one
consumer group on the system clock, with deadlines of seconds, while fans of many brands write
across the partitions of the events topic; one replica is killed (SIGKILL) while it consumes,
and started again (the group rebalances twice). Every clock is told on `scrm.sla.v1` as its
fan's messages and the agents' answers say (a breach for each unanswered fan, a met for each
answered one), no event id missing, and the database agrees.

What holds after a SIGKILL is "every id, at least once": the outbox relay publishes a batch and
then deletes its rows in the same transaction, so a replica killed between the two leaves the
rows for the other replica to publish again (`shared.outbox.OutboxRelay.relay_once`). A
duplicate is then the same record twice, same id and same content, which a consumer that
records the ids it applied (as every consumer here does) applies once.
"""

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.config import ResponderSettings
from shared.contracts import MessageReceived
from shared.db import create_engine
from shared.events import CloudEvent, decode
from shared.kafka import EventProducer
from shared.topics import EVENTS, SLA, ensure_topics
from stack.processes import free_port, spawn, stop_processes
from tests.conftest import Infrastructure
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6
AGENT = {"Authorization": "Bearer agent-secret"}
ADMIN = {"Authorization": "Bearer admin-secret"}
FAST_SECONDS = 3  # unanswered fans: warned after 2 s, breached after 3 s
ANSWERED_SECONDS = 120  # fans the agents answer: the answer always comes in time
POLICIES = [
    {"id": "call-back", "name": "Asked to be called back",
     "conditions": {"keywords": ["call me back"]}, "first_reply_seconds": ANSWERED_SECONDS,
     "next_reply_seconds": ANSWERED_SECONDS},
    {"id": "fast", "name": "Everyone else", "first_reply_seconds": FAST_SECONDS,
     "next_reply_seconds": FAST_SECONDS, "warning_before_seconds": 1},
]  # fmt: skip
WAVE = 24  # fans writing in each of three waves: before, during and after the kill


@dataclass(frozen=True)
class Fan:
    number: int

    @property
    def user(self) -> str:
        return f"fan{self.number}"

    @property
    def account(self) -> str:
        return f"brand-{self.number % 3}"

    @property
    def fan_key(self) -> str:
        return f"weibo:{self.account}:{self.user}"

    @property
    def answered(self) -> bool:
        return self.number % 2 == 0

    def message(self) -> CloudEvent[MessageReceived]:
        words = "please call me back" if self.answered else "hello?"
        data = MessageReceived(
            platform="weibo", account=self.account, user_id=self.user, message_id="m1",
            occurred_at=datetime.now(UTC), text=words,
        )  # fmt: skip
        return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=self.fan_key)


class Replica:
    """One responder process, serving on its own port."""

    def __init__(self, settings: ResponderSettings, output: Path) -> None:
        self.port = free_port()
        self.output = output
        self.events_topic = settings.topic(EVENTS)
        with output.open("wb") as log:
            self.process = spawn(
                [sys.executable, "-m", "services.responder"], stdout=log,
                stderr=subprocess.STDOUT, death_signal=signal.SIGTERM, cwd=ROOT,
                env=environment(settings, self.port),
            )  # fmt: skip

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    async def ready(self) -> bool:
        if (code := self.process.poll()) is not None:
            raise AssertionError(f"replica exited with {code}:\n{self.output.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            async with self.http() as client:
                return (await client.get("/readyz")).status_code == 200
        return False

    async def applied(self) -> int:
        """How many events of the events topic this replica applied."""
        async with self.http() as client:
            metrics = (await client.get("/metrics")).text
        return int(sum(
            sample.value for family in text_string_to_metric_families(metrics)
            for sample in family.samples if sample.name == "scrm_consumer_events_total"
            and sample.labels.get("topic") == self.events_topic
            and sample.labels.get("outcome") == "handled"
        ))  # fmt: skip

    async def holds_partitions(self) -> bool:
        async with self.http() as client:
            metrics = (await client.get("/metrics")).text
        return any(
            sample.labels.get("topic") == self.events_topic
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples if sample.name == "scrm_consumer_lag"
        )  # fmt: skip


def environment(settings: ResponderSettings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCRM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCRM_KAFKA_IDEMPOTENCE": json.dumps(settings.kafka_idempotence),
        "SCRM_DATABASE_URL": settings.database_url.get_secret_value(),
        "SCRM_TOPIC_PREFIX": settings.topic_prefix,
        "SCRM_CONSUMER_SESSION_TIMEOUT_MS": str(settings.consumer_session_timeout_ms),
        "SCRM_OUTBOX_POLL_SECONDS": "0.05",
        "SCRM_LOG_LEVEL": "WARNING",
        "SCRM_LOG_JSON": "false",
        "RESPONDER_HTTP_PORT": str(port),
        "RESPONDER_CLOCK": "system",
        "RESPONDER_TIMER_SCAN_SECONDS": "0.3",
        "RESPONDER_AGENT_TOKEN": "agent-secret",
        "RESPONDER_ADMIN_TOKEN": "admin-secret",
    }


class Replicas:
    def __init__(self, settings: ResponderSettings, folder: Path) -> None:
        self._settings, self._folder = settings, folder
        self.started: list[Replica] = []

    async def start(self) -> Replica:
        """A new replica, once it is ready and holds partitions of the events topic."""
        replica = Replica(self._settings, self._folder / f"replica-{len(self.started) + 1}.log")
        self.started.append(replica)
        await eventually(replica.ready, within=60)
        await eventually(replica.holds_partitions, within=60)
        return replica

    async def stop(self) -> list[int]:
        processes = [replica.process for replica in self.started]
        await asyncio.to_thread(stop_processes, processes, signal.SIGINT, 30)
        return [process.returncode for process in processes]


@pytest.fixture
async def settings(
    settings_for: Callable[..., Any], infrastructure: Infrastructure, topic_prefix: str
) -> ResponderSettings:
    prefix = f"{topic_prefix}replicas."
    await ensure_topics(infrastructure.bootstrap_servers, prefix=prefix, partitions=PARTITIONS)
    made: ResponderSettings = settings_for(ResponderSettings, topic_prefix=prefix)
    return made


@pytest.fixture
async def replicas(settings: ResponderSettings, tmp_path: Path) -> AsyncIterator[Replicas]:
    started = Replicas(settings, tmp_path)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def engine(settings: ResponderSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
async def producer(settings: ResponderSettings) -> AsyncIterator[EventProducer]:
    producer = EventProducer(settings)
    await producer.start()
    yield producer
    await producer.stop()


class TestTwoReplicasThroughAKill:
    async def test_every_clock_is_told_with_every_id_and_the_database_agrees(
        self, settings: ResponderSettings, replicas: Replicas, engine: AsyncEngine,
        producer: EventProducer, infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        fans = [Fan(number) for number in range(3 * WAVE)]
        first, second = await replicas.start(), await replicas.start()
        async with first.http() as client:
            installed = await client.put("/v1/admin/sla-policies", headers=ADMIN,
                                         json={"policies": POLICIES})  # fmt: skip
            assert installed.status_code == 200, installed.text
        messages = await write(producer, fans[:WAVE])
        await answer(engine, second, fans[:WAVE])

        applied_before = await second.applied()
        trickled = asyncio.create_task(write(producer, fans[WAVE : 2 * WAVE], pace=0.1))
        await eventually(lambda: _applied_more(second, applied_before), within=30)
        second.process.kill()  # SIGKILL, while it consumes, fires timers and relays
        messages |= await trickled
        await answer(engine, first, fans[WAVE : 2 * WAVE])

        third = await replicas.start()
        messages |= await write(producer, fans[2 * WAVE :])
        await answer(engine, third, fans[2 * WAVE :])
        await eventually(lambda: clocks_ended_as_expected(engine, fans), within=60)
        assert await replicas.stop() == [0, -signal.SIGKILL, 0]
        assert await _count(engine, "SELECT count(*) FROM responder.outbox_messages") == 0

        records = await everything_on(infrastructure.bootstrap_servers, settings.topic(SLA))
        told = told_once_each(records)
        clocks = await first_reply_clocks(engine)
        assert clocks.keys() == {fan.fan_key for fan in fans}, "a fan's clock was lost"
        assert told.keys() == expected_ids(fans, clocks), "an event was lost or made up"
        for fan in fans:
            agrees_with_the_database(fan, messages[fan.fan_key], clocks[fan.fan_key], told)
        claimed = await _count(engine, "SELECT count(*) FROM responder.processed_events "
                               "WHERE event_id = ANY(:ids)",
                               ids=[m.id for m in messages.values()])  # fmt: skip
        assert claimed == len(fans)


async def write(
    producer: EventProducer, fans: Sequence[Fan], *, pace: float = 0
) -> dict[str, CloudEvent[MessageReceived]]:
    """Each fan's message, sent now, a few at a time at `pace` (seconds between them)."""
    sent = {}
    for start in range(0, len(fans), 4):
        for fan in fans[start : start + 4]:
            sent[fan.fan_key] = fan.message()
            await producer.publish(sent[fan.fan_key])
        if pace:
            await asyncio.sleep(pace)  # the pace of the stream, not a wait for an outcome
    return sent


async def answer(engine: AsyncEngine, replica: Replica, fans: Sequence[Fan]) -> None:
    """An agent answers each fan asking for it, through `replica`, once the fan's conversation
    is there."""
    async with replica.http() as client:
        for fan in (fan for fan in fans if fan.answered):
            conversation = await eventually(functools.partial(_conversation_of, engine, fan))
            answered = await client.post(
                f"/v1/conversations/{conversation}/replies", headers=AGENT,
                json={"text": "We will call you.", "reply_id": f"r-{fan.user}"},
            )  # fmt: skip
            assert answered.status_code == 202, answered.text


async def clocks_ended_as_expected(engine: AsyncEngine, fans: Sequence[Fan]) -> bool:
    """Every answered fan's clock met, every other one warned and breached."""
    clocks = await first_reply_clocks(engine)
    return len(clocks) == len(fans) and all(
        clocks[fan.fan_key]["outcome"] == "met" if fan.answered
        else clocks[fan.fan_key]["warned"] and clocks[fan.fan_key]["breached"]
        for fan in fans if fan.fan_key in clocks
    )  # fmt: skip


async def first_reply_clocks(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(text("""
            SELECT c.fan_key, k.* FROM responder.sla_clocks k
              JOIN responder.conversations c ON c.id = k.conversation_id
             WHERE k.target = 'first_reply'
        """))).mappings()  # fmt: skip
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            assert row["fan_key"] not in found, f"two first-reply clocks for {row['fan_key']}"
            found[row["fan_key"]] = dict(row)
        return found


def expected_ids(fans: Sequence[Fan], clocks: dict[str, dict[str, Any]]) -> set[str]:
    ids = set()
    for fan in fans:
        clock = clocks[fan.fan_key]["id"]
        told = ("started:message", "met") if fan.answered else (
            "started:message", "warning", "breached"
        )  # fmt: skip
        ids |= {f"{clock}:{what}" for what in told}
    return ids


def told_once_each(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[str, Any]:
    """The events by id; an id told more than once must be the same record each time."""
    by_id: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
    for record in records:
        by_id[decode(record.headers, record.value).id].append(record)
    for event_id, copies in by_id.items():
        assert len({(bytes(c.value or b""), tuple(c.headers)) for c in copies}) == 1, event_id
    return {event_id: decode(c[0].headers, c[0].value) for event_id, c in by_id.items()}


def agrees_with_the_database(
    fan: Fan, message: CloudEvent[MessageReceived], clock: dict[str, Any], told: dict[str, Any]
) -> None:
    """The events of the fan's clock say what its message and the stored clock say."""
    budget = timedelta(seconds=ANSWERED_SECONDS if fan.answered else FAST_SECONDS)
    deadline = message.data.occurred_at + budget
    started = told[f"{clock['id']}:started:message"].data
    assert (started.started_at, started.deadline) == (message.data.occurred_at, deadline)
    assert clock["started_at"] == message.data.occurred_at
    if fan.answered:
        met = told[f"{clock['id']}:met"].data
        assert (met.latency_seconds, met.met_at) == (clock["latency_seconds"], clock["ended_at"])
        assert 0 < met.latency_seconds < ANSWERED_SECONDS
        assert clock["reply_id"] == f"r-{fan.user}"
    else:
        assert told[f"{clock['id']}:breached"].data.deadline == deadline == clock["deadline"]
        assert clock["ended_at"] is None


async def everything_on(bootstrap_servers: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` up to its end as it stands now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _applied_more(replica: Replica, than: int) -> bool:
    return await replica.applied() > than


async def _conversation_of(engine: AsyncEngine, fan: Fan) -> str | None:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT id FROM responder.conversations WHERE fan_key = :k"), {"k": fan.fan_key}
        )
    return None if found is None else str(found)


async def _count(engine: AsyncEngine, query: str, **parameters: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(query), parameters) or 0)
