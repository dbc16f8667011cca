"""Reading back what reached an SLA topic: each record's event id, type, the fan (hence the
wave), its deadline, and when the broker appended it (the topics are made with
``message.timestamp.type=LogAppendTime``: the broker's clock, not the producer's)."""

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.kafka_tools import TopicProgress
from shared.topics import ALL_TOPICS, SLA, TopicSpec

LOG_APPEND_TIME = 1  # aiokafka's timestamp_type when the broker set the timestamp
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
POLL_SECONDS = 0.5


def topic_specs(*extra: str) -> tuple[TopicSpec, ...]:
    """Every topic of the system, the SLA topic (and `extra` ones) stamped by the broker."""
    specs = [TopicSpec(SLA, APPEND_TIME) if spec.name == SLA else spec for spec in ALL_TOPICS]
    return (*specs, *(TopicSpec(name, APPEND_TIME) for name in extra))


@dataclass(frozen=True)
class SlaRecord:
    event_id: str
    event_type: str  # scrm.sla.breached.v1, ...
    fan_key: str
    deadline: float  # epoch seconds
    appended: float  # epoch seconds, the broker's

    @property
    def lag_ms(self) -> float:
        return (self.appended - self.deadline) * 1000


async def read_all(bootstrap: str, topic: str) -> list[SlaRecord]:
    """Every record on `topic` now, from its start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_poll_records=5_000)  # fmt: skip
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # this topic's partitions among it
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[SlaRecord] = []
        while await _behind(consumer, ends):
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records += [_parsed(r.headers, r.value, r.timestamp, r.timestamp_type)
                            for r in batch]  # fmt: skip
        return records
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


def _parsed(
    headers: list[tuple[str, bytes]], value: bytes | None, timestamp: int, kind: int
) -> SlaRecord:
    if kind != LOG_APPEND_TIME:
        raise ValueError("the SLA topic's records carry the producer's time, not the broker's")
    named = {name: content.decode() for name, content in headers}
    data = json.loads(value or b"{}")
    deadline = datetime.fromisoformat(data["deadline"]).timestamp()
    return SlaRecord(named["ce_id"], named["ce_type"], data["fan_key"], deadline,
                     timestamp / 1000)  # fmt: skip


async def wait_for_records(
    ends: TopicProgress, *, expected: int, not_before: float, patience: float
) -> int:
    """Poll the topic's end until it holds `expected` records; past `not_before` (epoch), give
    up after `patience` seconds without a new record. The records it holds then."""
    count, moved = await ends.end(), time.time()
    while count < expected:
        await asyncio.sleep(POLL_SECONDS)
        now, latest = time.time(), await ends.end()
        if latest != count:
            count, moved = latest, now
        elif now > not_before and now - max(moved, not_before) > patience:
            break
    return count
