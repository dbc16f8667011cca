"""The producer: the records of concurrent send_many calls go out together, each call learns its
own outcome, a key keeps the partition aiokafka's (and Java's) default partitioner gives it, and a
record sent alone with send() keeps an outcome of its own."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from shared.events import KafkaRecord
from shared.kafka import MAX_RECORD_BYTES, MAX_REQUEST_BYTES, BrokerUnavailable, EventProducer
from shared.settings import KafkaSettings
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.helpers import read_topic

pytestmark = pytest.mark.integration
PARTITIONS = [0, 1, 2]  # conftest's kafka_topics makes three


def record(key: str, n: int) -> KafkaRecord:
    return KafkaRecord(key=key.encode(), value=f"{key}/{n}".encode(), headers=[("n", b"%d" % n)])


@pytest.fixture
async def producer(settings_for: Callable[..., Any]) -> AsyncIterator[tuple[EventProducer, str]]:
    settings: KafkaSettings = settings_for(KafkaSettings)
    producer = EventProducer(settings)
    await producer.start()
    yield producer, settings.topic(EVENTS)
    await producer.stop()


def default_partition(key: bytes) -> int:
    return int(DefaultPartitioner()(key, PARTITIONS, PARTITIONS))


async def test_concurrent_calls_are_all_acknowledged_in_order_per_key_on_default_partitions(
    producer: tuple[EventProducer, str], infrastructure: Infrastructure
) -> None:
    events, topic = producer
    keys = [f"line:oa:{uuid.uuid4().hex[:8]}" for _ in range(12)]
    for key in keys:  # one record each sent alone
        await events.send(topic, record(key, 0))

    async def caller(key: str) -> None:  # then three calls in a row per key, all keys at once
        for n in (1, 2, 3):
            await events.send_many([(topic, record(key, n)), (topic, record(key, n * 10))])

    await asyncio.gather(*(caller(key) for key in keys))
    records = await read_topic(
        infrastructure.bootstrap_servers, topic, expect=len(keys) * 7, within=20
    )
    assert len(records) == len(keys) * 7
    for key in keys:
        mine = [r for r in records if r.key == key.encode()]
        assert {r.partition for r in mine} == {default_partition(key.encode())}
        in_order = sorted(mine, key=lambda r: r.offset)
        assert [dict(r.headers)["n"] for r in in_order] == [
            b"0", b"1", b"10", b"2", b"20", b"3", b"30"
        ]  # fmt: skip


async def test_an_oversized_record_fails_its_own_call_only(
    producer: tuple[EventProducer, str], infrastructure: Infrastructure
) -> None:
    events, topic = producer
    huge = KafkaRecord(key=b"k", value=b"x" * (MAX_RECORD_BYTES + 1), headers=[])
    outcomes = await asyncio.gather(
        events.send_many([(topic, huge)]),
        events.send_many([(topic, record("line:oa:fine", 1))]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], BrokerUnavailable)
    assert outcomes[1] is None
    records = await read_topic(infrastructure.bootstrap_servers, topic, expect=1, within=5)
    assert [r.value for r in records] == [b"line:oa:fine/1"]


async def test_a_call_with_a_refused_record_sends_none_of_its_records(
    producer: tuple[EventProducer, str], infrastructure: Infrastructure
) -> None:
    events, topic = producer
    refused = KafkaRecord(key=b"k", value="not bytes", headers=[])  # type: ignore[arg-type]
    with pytest.raises(BrokerUnavailable):
        await events.send_many([(topic, record("line:oa:first", 1)), (topic, refused)])
    await events.send_many([(topic, record("line:oa:later", 2))])
    records = await read_topic(infrastructure.bootstrap_servers, topic, expect=2, within=3)
    assert [r.value for r in records] == [b"line:oa:later/2"]


async def test_a_record_sent_alone_keeps_its_own_outcome(
    producer: tuple[EventProducer, str], infrastructure: Infrastructure
) -> None:
    events, topic = producer
    refused = KafkaRecord(key=b"k", value="not bytes", headers=[])  # type: ignore[arg-type]
    gathered, alone = await asyncio.gather(  # the gathered call's round is still being gathered
        events.send_many([(topic, record("line:oa:gathered", 1))]),
        events.send(topic, refused),
        return_exceptions=True,
    )
    assert gathered is None, "the refused record did not fail the round gathered beside it"
    assert isinstance(alone, BrokerUnavailable)
    records = await read_topic(infrastructure.bootstrap_servers, topic, expect=2, within=3)
    assert [r.value for r in records] == [b"line:oa:gathered/1"]


async def test_a_record_too_big_for_a_round_can_still_be_sent_alone(
    producer: tuple[EventProducer, str], infrastructure: Infrastructure
) -> None:
    """So the dead letter of a record the broker took can go out."""
    events, topic = producer
    big = KafkaRecord(key=b"k", value=b"x" * (MAX_RECORD_BYTES + 1000), headers=[])
    with pytest.raises(BrokerUnavailable):
        await events.send_many([(topic, big)])
    await events.send(topic, big)
    with pytest.raises(BrokerUnavailable):
        await events.send(topic, KafkaRecord(key=b"k", value=b"x" * MAX_REQUEST_BYTES, headers=[]))
    records = await read_topic(infrastructure.bootstrap_servers, topic, expect=2, within=5)
    assert [len(r.value) for r in records] == [len(big.value)]


async def test_many_records_sent_alone_at_once_on_one_partition_are_all_acknowledged(
    producer: tuple[EventProducer, str], infrastructure: Infrastructure
) -> None:
    """A burst of refusal records or dead letters, all keyed alike: none waits out another."""
    events, topic = producer
    outcomes = await asyncio.gather(
        *(events.send(topic, record("line:oa:burst", n)) for n in range(100)),
        return_exceptions=True,
    )
    assert [o for o in outcomes if o is not None] == []
    records = await read_topic(infrastructure.bootstrap_servers, topic, expect=100, within=10)
    assert len(records) == 100
