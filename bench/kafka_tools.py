"""The benchmark's side of Kafka: producing many records quickly, following how far a consumer
group has committed on a topic, and reading a topic whole."""

import asyncio
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from shared.events import KafkaRecord

BATCH_BYTES = 512 * 1024  # aiokafka's default, 16 KiB, is 40 records of these a request
POLL_SECONDS = 0.05


class BatchProducer:
    """acks=all and idempotent, as ingest produces; records are appended to a large batch per
    partition (the key's, as aiokafka's and Java's default partitioner pick), each sent when it
    is full or flushed: a send() and a future per record would cost this process more CPU than
    making the events."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=BATCH_BYTES, max_request_size=BATCH_BYTES + 64 * 1024,
        )  # fmt: skip
        self._partitions: list[int] = []
        self._partition_of: dict[bytes, int] = {}
        self._open: dict[int, BatchBuilder] = {}
        self._acks: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> Self:
        await self._producer.start()
        self._partitions = sorted(await self._producer.partitions_for(self._topic))
        return self

    async def __aexit__(
        self, *exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self._producer.stop()

    async def add(self, records: Sequence[KafkaRecord]) -> None:
        for record in records:
            partition = self._partition(record.key)
            builder = self._open.get(partition)
            if builder is None or not _append(builder, record):
                if builder is not None:
                    await self._send(partition)
                builder = self._open[partition] = self._producer.create_batch()
                _append(builder, record)

    async def flush(self) -> None:
        """Send every batch open now, without lingering."""
        for partition in list(self._open):
            await self._send(partition)

    async def acknowledged(self) -> None:
        """Flush, then wait until the broker acknowledged everything sent so far."""
        await self.flush()
        acks, self._acks = self._acks, []
        await asyncio.gather(*acks)

    async def _send(self, partition: int) -> None:
        builder = self._open.pop(partition)
        builder.close()
        self._acks.append(
            await self._producer.send_batch(builder, self._topic, partition=partition)
        )

    def _partition(self, key: bytes) -> int:
        partition = self._partition_of.get(key)
        if partition is None:
            partition = DefaultPartitioner()(key, self._partitions, self._partitions)
            self._partition_of[key] = partition
        return int(partition)


def _append(builder: BatchBuilder, record: KafkaRecord) -> bool:
    """Whether `builder` had room for `record`."""
    added = builder.append(timestamp=None, key=record.key, value=record.value,
                           headers=record.headers)  # fmt: skip
    return added is not None


class TopicProgress:
    """A topic's end, and how far consumer groups committed on it (the offsets a restarted
    consumer would resume from: what it has finished with)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Self:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(
        self, *exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def end(self) -> int:
        """The records on the topic: the sum of its partitions' end offsets (a fresh topic)."""
        await self._consumer._client.force_metadata_update()
        partitions = self._consumer.partitions_for_topic(self._topic) or set()
        ends = await self._consumer.end_offsets(
            [TopicPartition(self._topic, p) for p in partitions]
        )
        return int(sum(ends.values()))

    async def committed(self, group: str) -> int:
        """The records `group` committed; 0 while the broker cannot tell yet (a fresh broker
        creates its offsets topic when the first group asks for its coordinator)."""
        try:
            offsets = await self._admin.list_consumer_group_offsets(group)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            return 0
        return sum(
            o.offset for tp, o in offsets.items() if tp.topic == self._topic and o.offset > 0
        )

    async def caught_up(
        self, group: str, *, end: int, alive: Callable[[], bool], patience: float = 300
    ) -> float:
        """The wall-clock time (time.time()) at which `group` was first seen to have committed
        `end` records, polled every 50 ms. Raises if its consumer stops being `alive`, or
        commits nothing more for `patience` seconds, first."""
        progress, last_move = -1, time.monotonic()
        while (committed := await self.committed(group)) < end:
            if committed != progress:
                progress, last_move = committed, time.monotonic()
            if not alive():
                raise RuntimeError(f"the consumer of {group} stopped at {committed} of {end}")
            if time.monotonic() - last_move > patience:
                raise TimeoutError(f"{group} stalled at {committed} of {end}")
            await asyncio.sleep(POLL_SECONDS)
        return time.time()


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the topic now, from its start to the end it had when asked."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        read: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                read += records
        return read
    finally:
        await consumer.stop()
