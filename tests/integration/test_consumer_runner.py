"""The shared consumer runner against a real broker and a real PostgreSQL."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from services.scoring.config import ScoringSettings
from shared.events import CloudEvent, KafkaRecord
from shared.topics import DEADLETTER
from tests.conftest import Infrastructure
from tests.consumer_fixtures import ConsumerHarness, message_event
from tests.helpers import eventually, header, read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def harness(settings_for: Callable[..., Any]) -> AsyncIterator[ConsumerHarness]:
    harness = ConsumerHarness(settings_for(ScoringSettings, consumer_max_attempts=3))
    await harness.start()
    yield harness
    await harness.stop()


def outcome_count(topic: str, outcome: str) -> float:
    labels = {"service": "scoring", "topic": topic, "outcome": outcome}
    return REGISTRY.get_sample_value("scrm_consumer_events_total", labels) or 0.0


async def committed_offsets(harness: ConsumerHarness) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=harness.settings.kafka_bootstrap_servers,
        group_id=harness.settings.consumer_group, enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(harness.topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(harness.topic) or set()
        return {p: await consumer.committed(TopicPartition(harness.topic, p)) for p in partitions}
    finally:
        await consumer.stop()


class TestEffectivelyOnce:
    async def test_each_event_is_applied_once(self, harness: ConsumerHarness) -> None:
        events = [message_event(f"fan{i % 4}") for i in range(20)]
        for event in events:
            await harness.producer.publish(event)
        async with harness.running(harness.runner()):
            await eventually(lambda: _equals(harness.effects(), 20))
        assert await harness.effects(events[0].id) == 1

    async def test_a_redelivered_event_changes_nothing(self, harness: ConsumerHarness) -> None:
        event = message_event("fan1")
        await harness.producer.publish(event)
        await harness.producer.publish(event)  # the same event id, as a platform retry makes it
        async with harness.running(harness.runner()):
            await eventually(lambda: _async(outcome_count(harness.topic, "duplicate") >= 1))
        assert await harness.effects(event.id) == 1
        assert outcome_count(harness.topic, "handled") == 1


class TestDeadLetter:
    async def test_a_handler_that_always_fails_sends_the_event_to_the_dead_letter_topic_and_the_partition_moves_on(  # noqa: E501
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        poisoned = message_event("fan1", message_id="poison")
        healthy = message_event("fan1", message_id="fine")  # same fan: same partition, after it

        async def fail_on_poison(session: Any, event: CloudEvent[Any]) -> None:
            if event.data.message_id == "poison":
                raise RuntimeError("cannot score this")
            from tests.consumer_fixtures import record_effect

            await record_effect(session, event)

        await harness.producer.publish(poisoned)
        await harness.producer.publish(healthy)
        async with harness.running(harness.runner(fail_on_poison)):
            await eventually(lambda: _equals(harness.effects(healthy.id), 1))
        dead = await read_topic(
            infrastructure.bootstrap_servers, harness.settings.topic(DEADLETTER), expect=1
        )
        assert len(dead) == 1
        assert header(dead[0], "ce_id") == poisoned.id, "original headers are kept"
        assert "cannot score this" in (header(dead[0], "dlq_error") or "")
        assert header(dead[0], "dlq_attempts") == "3"
        assert header(dead[0], "dlq_topic") == harness.topic
        assert await harness.effects(poisoned.id) == 0, "the failed attempts were rolled back"
        assert outcome_count(harness.topic, "retried") == 2

    async def test_a_record_that_is_not_a_cloudevent_is_dead_lettered_at_once(
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        garbage = KafkaRecord(key=b"k", value=b"\x00not json", headers=[("x", b"y")])
        await harness.producer.send(harness.topic, garbage)
        after = message_event("fan2")
        await harness.producer.publish(after)
        async with harness.running(harness.runner()):
            await eventually(lambda: _equals(harness.effects(after.id), 1))
        dead = await read_topic(
            infrastructure.bootstrap_servers, harness.settings.topic(DEADLETTER), expect=1
        )
        assert dead[0].value == b"\x00not json"
        assert header(dead[0], "dlq_attempts") == "0"


class TestCrashBetweenDbCommitAndOffsetCommit:
    async def test_the_event_is_redelivered_and_not_applied_twice(
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        event = message_event("fan1")
        await harness.producer.publish(event)
        settings = harness.settings
        crashed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tests.crashing_consumer", settings.kafka_bootstrap_servers,
             settings.database_url.get_secret_value(), settings.topic_prefix,
             str(settings.kafka_idempotence).lower()],
            cwd=ROOT, capture_output=True, timeout=90, check=False,
        )  # fmt: skip
        assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
        assert await harness.effects(event.id) == 1, "the DB transaction committed before the kill"
        assert set((await committed_offsets(harness)).values()) <= {None, 0}, "no offset moved"

        async with harness.running(harness.runner()):
            await eventually(lambda: _async(outcome_count(harness.topic, "duplicate") == 1))
        assert await harness.effects(event.id) == 1


class TestShutdownAndRebalance:
    async def test_stop_commits_the_offsets_of_what_was_applied(
        self, harness: ConsumerHarness
    ) -> None:
        for i in range(9):
            await harness.producer.publish(message_event(f"fan{i}"))
        async with harness.running(harness.runner()):
            await eventually(lambda: _equals(harness.effects(), 9))
        offsets = await committed_offsets(harness)
        assert sum(offset or 0 for offset in offsets.values()) == 9

    async def test_a_second_member_joining_mid_stream_loses_and_doubles_nothing(
        self, harness: ConsumerHarness
    ) -> None:
        events = [message_event(f"fan{i}") for i in range(60)]
        for event in events[:30]:
            await harness.producer.publish(event)
        async with harness.running(harness.runner()):
            await eventually(lambda: _at_least(harness.effects(), 5))
            async with harness.running(harness.runner()):
                for event in events[30:]:
                    await harness.producer.publish(event)
                await eventually(lambda: _equals(harness.effects(), 60), within=60)
        for event in events[::7]:
            assert await harness.effects(event.id) == 1


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)


async def _at_least(count: Any, expected: int) -> bool:
    return bool(await count >= expected)


async def _async(value: bool) -> bool:
    return value
