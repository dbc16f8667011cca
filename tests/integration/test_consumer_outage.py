"""With PostgreSQL stopped under a running consumer, events that arrive meanwhile are not
dead-lettered: the consumer pauses, reports itself not ready (alive all the same), and once
PostgreSQL is back applies every event exactly once. With the broker away when an event must be
dead-lettered, the consumer waits for it instead of stopping.

PostgreSQL and the broker stopped here are the test's own, so the shared ones are never
disturbed."""

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from shared.consumer import HandlerRegistry
from shared.consumer_batch import BatchRegistry
from shared.contracts import MessageReceived
from shared.events import CloudEvent
from shared.migrate import upgrade
from shared.service import ServiceParts, Subscription, consumer_service
from shared.topics import DEADLETTER, ensure_topics
from stack.embedded import EmbeddedBroker, EmbeddedPostgres
from tests.conftest import Infrastructure
from tests.consumer_fixtures import ConsumerHarness, message_event, record_effect, record_effects
from tests.helpers import eventually, metric_value, read_topic, running

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    # Not under pytest's tmp_path: the server runs as its own user, which may not enter it.
    folder = Path(tempfile.mkdtemp(prefix="scrm-test-consumer-outage-"))
    postgres = await asyncio.to_thread(EmbeddedPostgres(folder / "pg", durable=False).start)
    admin = await asyncpg.connect(postgres.url(driver="postgresql"))
    try:
        await admin.execute('CREATE DATABASE "outage"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, postgres.url("outage"), ("scoring",))
    yield postgres
    await asyncio.to_thread(postgres.stop)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def harness(
    own_postgres: EmbeddedPostgres, settings_for: Callable[..., Any]
) -> AsyncIterator[ConsumerHarness]:
    settings = settings_for(
        ScoringSettings, database_url=own_postgres.url("outage"), consumer_max_attempts=2
    )
    harness = ConsumerHarness(settings)
    await harness.start()
    yield harness
    await harness.stop()


def consumer_app(harness: ConsumerHarness, handlers: HandlerRegistry | BatchRegistry) -> FastAPI:
    """A consumer service of the shared parts (/readyz among them) reading the harness's topic."""

    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return [Subscription([harness.topic], handlers)]

    return consumer_service(
        harness.settings, title="outage", tables=infrastructure, subscriptions=subscriptions
    )


async def readiness(client: httpx.AsyncClient) -> dict[str, str]:
    checks: dict[str, str] = (await client.get("/readyz")).json()["checks"]
    return checks


async def paused(client: httpx.AsyncClient, part: str) -> float:
    return await metric_value(client, "scrm_consumer_paused", service="scoring", part=part)


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batch"])
async def test_a_consumer_waits_out_a_database_outage_and_then_applies_every_event_once(
    harness: ConsumerHarness, own_postgres: EmbeddedPostgres, infrastructure: Infrastructure,
    batch: bool,
) -> None:  # fmt: skip
    before = [message_event(f"fan{i}") for i in range(3)]
    during = [message_event(f"fan{i}") for i in range(6)]
    handlers: HandlerRegistry | BatchRegistry = {MessageReceived: record_effect}
    if batch:
        handlers = BatchRegistry(record_effects, frozenset({MessageReceived}))
    async with running(consumer_app(harness, handlers)) as client:
        for event in before:
            await harness.producer.publish(event)
        await eventually(lambda: _equals(harness.effects(), 3))

        await asyncio.to_thread(own_postgres.stop)
        for event in during:
            await harness.producer.publish(event)

        async def consumers_paused() -> bool:
            return (await readiness(client)).get("consumers") == "failing: PostgresUnreachable"

        await eventually(consumers_paused)
        # Ample time for the attempts and backoff of a poison event to run out (0.01 s, twice).
        await asyncio.sleep(1)
        assert await consumers_paused()
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200
        assert harness.outcome("deadlettered") == 0
        assert await paused(client, "postgres") == 1

        await asyncio.to_thread(own_postgres.start)  # same port, same data
        await eventually(lambda: _equals(harness.effects(), 9), within=60)
        assert (await readiness(client))["consumers"] == "ok"
        assert await paused(client, "postgres") == 0

    for event in [*before, *during]:
        assert await harness.effects(event.id) == 1
    dead = await read_topic(
        infrastructure.bootstrap_servers, harness.settings.topic(DEADLETTER), expect=1, within=2
    )
    assert dead == []
    assert harness.outcome("handled") == 9


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path / "broker.log").start()
    yield broker
    freeze(broker, signal.SIGCONT)
    broker.stop()


def freeze(broker: EmbeddedBroker, sig: signal.Signals) -> None:
    """SIGSTOP: connections stay open but nothing answers, as in a network partition."""
    assert broker._process is not None
    os.kill(broker._process.pid, sig)


async def test_a_dead_letter_waits_for_the_broker_and_the_partition_then_moves_on(
    own_broker: EmbeddedBroker, settings_for: Callable[..., Any]
) -> None:
    settings = settings_for(
        ScoringSettings, kafka_bootstrap_servers=own_broker.bootstrap_servers,
        kafka_idempotence=False, produce_timeout_seconds=1.0, consumer_max_attempts=1,
    )  # fmt: skip
    await ensure_topics(own_broker.bootstrap_servers, prefix=settings.topic_prefix, partitions=1)
    harness = ConsumerHarness(settings)
    await harness.start()
    poison, after = message_event("fan1", "poison"), message_event("fan1", "after")
    failing, frozen = asyncio.Event(), asyncio.Event()

    async def fail_on_poison_once_the_broker_is_frozen(
        session: Any, event: CloudEvent[Any]
    ) -> None:
        if event.data.message_id == "poison":
            failing.set()
            await frozen.wait()
            raise RuntimeError("cannot score this")
        await record_effect(session, event)

    await harness.producer.publish(poison)
    await harness.producer.publish(after)
    handlers: HandlerRegistry = {MessageReceived: fail_on_poison_once_the_broker_is_frozen}
    try:
        async with running(consumer_app(harness, handlers)) as client:
            await eventually(_async(failing.is_set))
            freeze(own_broker, signal.SIGSTOP)
            frozen.set()

            async def consumers_paused() -> bool:
                return (await readiness(client)).get("consumers") == "failing: KafkaUnreachable"

            await eventually(consumers_paused, within=30)
            freeze(own_broker, signal.SIGCONT)
            await eventually(lambda: _equals(harness.effects(after.id), 1), within=60)
            assert (await readiness(client))["workers"] == "ok", "the consumer kept running"
        dead = await read_topic(own_broker.bootstrap_servers, settings.topic(DEADLETTER), expect=1)
        assert dead
        assert {dict(record.headers)["ce_id"] for record in dead} == {poison.id.encode()}
    finally:
        freeze(own_broker, signal.SIGCONT)
        await harness.stop()


def _async(probe: Callable[[], bool]) -> Callable[[], Any]:
    async def awaitable() -> bool:
        return probe()

    return awaitable


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)
