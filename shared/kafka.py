"""The producer every service publishes through: ``acks=all``, idempotent where the broker can."""

import asyncio
import contextlib
import functools
from collections.abc import Mapping

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from shared.contracts import topic_of
from shared.events import CloudEvent, DataT, KafkaRecord, encode
from shared.settings import KafkaSettings

# What the broker takes in one request (message.max.bytes is 1 MiB by default): a record sent
# alone (a dead letter) may be this large, with its headers and its batch's overhead.
MAX_REQUEST_BYTES = 1_048_576
# A record gathered in a round must leave room below that for what dead-lettering it adds (the
# dlq_* headers, about 2.5 KB), so that any record the system produced can be dead-lettered.
MAX_RECORD_BYTES = MAX_REQUEST_BYTES - 48 * 1024


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge in time; the caller must not report success."""


class EventProducer:
    """Two ways out, each for a reason: `send_many` gathers the records of concurrent calls in
    rounds (closed batches by partition, murmur2 of the key as aiokafka's and Java's default
    partitioner pick, one outcome a round), the webhook path's; `send` and `publish` give one
    record an outcome of its own."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=settings.kafka_idempotence,
            # Though every round's batches leave closed, without it the webhook throughput of
            # make bench-ingest fell by a tenth (0.53-0.56 of the bare endpoint against 0.61-0.63).
            linger_ms=2,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=int(settings.produce_timeout_seconds * 1000),
            retry_backoff_ms=100,
        )
        self._gathering: _Round | None = None
        self._sending: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        if self._sending is not None:  # the rounds already gathered go out first
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sending, self._settings.produce_timeout_seconds)
        await self._producer.stop()  # flushes what is buffered

    async def publish(self, event: CloudEvent[DataT], *, topic: str | None = None) -> None:
        """Publish to the event type's topic (with the deployment prefix) and await the ack."""
        await self.send(topic or self._settings.topic(topic_of(event.data)), encode(event))

    async def send(self, topic: str, record: KafkaRecord) -> None:
        """Send one record and await its ack, with an outcome of its own.

        Not in the rounds send_many gathers: a round has one outcome, and a record sent alone (a
        dead letter, a refused webhook's record) must not fail or hold up the webhooks gathered
        with it when its partition is slow or refuses it. aiokafka's own send() gives it its own
        future, and concurrent ones share the batch that is open on their partition.
        """
        try:
            _refuse_oversize(topic, record, MAX_REQUEST_BYTES)
            async with asyncio.timeout(self._settings.produce_timeout_seconds):
                ack = await self._producer.send(
                    topic, record.value, key=record.key, headers=record.headers
                )
                await ack
        except Exception as exc:
            raise BrokerUnavailable(f"{topic}: {exc!r}") from exc

    async def send_many(self, records: list[tuple[str, KafkaRecord]]) -> None:
        """Send records and wait for every ack; order per partition is kept.

        The records of concurrent calls travel together: they join the round being gathered,
        which goes out as soon as the round before it is acknowledged. Per record that is an
        append to a batch, instead of a send() with its own future; make bench-ingest measured
        aiokafka's send() at a third of ingest's CPU.

        A round has one outcome: a partition that is slow to acknowledge (a leader election)
        holds up every call in its round and in the rounds behind it, until the timeout.
        """
        if not records:
            return
        try:
            partitions = await self._partitions(records)
            for topic, record in records:  # refused alone, before it could fail a whole round
                _refuse_oversize(topic, record, MAX_RECORD_BYTES)
            gathering = self._gathering
            if gathering is None:
                gathering = self._gathering = _Round(self._producer)
            try:
                gathering.fill(records, partitions)
            except Exception:
                self._gathering = None  # failed whole: the next call gathers a new round
                raise
            if self._sending is None or self._sending.done():
                self._sending = asyncio.create_task(self._send_rounds(), name="kafka-rounds")
            async with asyncio.timeout(self._settings.produce_timeout_seconds):
                await asyncio.shield(gathering.acknowledged)
        except Exception as exc:
            raise BrokerUnavailable(repr(exc)) from exc

    async def _partitions(self, records: list[tuple[str, KafkaRecord]]) -> dict[str, list[int]]:
        topics = {topic for topic, _ in records}
        return {topic: sorted(await self._producer.partitions_for(topic)) for topic in topics}

    async def _send_rounds(self) -> None:
        while self._gathering is not None:
            sending, self._gathering = self._gathering, None
            await sending.send()

    async def check(self) -> None:
        """Raise unless the broker answers a metadata request now."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)


class _Round:
    """Records going out together (those of concurrent send_many calls, or one sent alone):
    closed batches by partition, one outcome."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._batches: dict[tuple[str, int], list[BatchBuilder]] = {}
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # retrieved here too: an outcome whose callers stopped waiting is not reported as lost
        self.acknowledged.add_done_callback(lambda done: done.cancelled() or done.exception())

    def fill(
        self, records: list[tuple[str, KafkaRecord]], partitions: Mapping[str, list[int]]
    ) -> None:
        """Add `records` on their keys' partitions. A record the batch refuses, after others went
        in: the round cannot go out half-refused, so it fails whole (none of it is sent)."""
        try:
            for topic, record in records:
                self.add(topic, _partition(record.key, partitions[topic]), record)
        except Exception:
            self.acknowledged.set_exception(BrokerUnavailable("a record was refused"))
            raise

    def add(self, topic: str, partition: int, record: KafkaRecord) -> None:
        builders = self._batches.setdefault((topic, partition), [])
        if not builders or not _append(builders[-1], record):
            builders.append(self._producer.create_batch())
            _append(builders[-1], record)  # a fresh batch takes any first record

    async def send(self) -> None:
        """Hand every batch to the producer (closed: it leaves without lingering), then wait for
        all the acks. A partition's second batch waits until its first has left."""
        try:
            acks = []
            for depth in range(max(len(builders) for builders in self._batches.values())):
                for (topic, partition), builders in self._batches.items():
                    if depth < len(builders):
                        builders[depth].close()
                        acks.append(
                            await self._producer.send_batch(
                                builders[depth], topic, partition=partition
                            )
                        )
            await asyncio.gather(*acks)
        except Exception as exc:
            self.acknowledged.set_exception(exc)
        except BaseException:  # cancelled: its callers get a failure, the cancellation goes on
            self.acknowledged.set_exception(BrokerUnavailable("the producer stopped"))
            raise
        else:
            self.acknowledged.set_result(None)


def _refuse_oversize(topic: str, record: KafkaRecord, limit: int) -> None:
    """A record's size is judged one way, however it is sent: with its headers and its batch's
    overhead, as aiokafka judges it."""
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        record.key, record.value, record.headers
    )
    if size > limit:
        raise MessageSizeTooLargeError(f"{size} bytes for {topic}")


def _append(builder: BatchBuilder, record: KafkaRecord) -> bool:
    """Whether `builder` had room for `record`."""
    added = builder.append(timestamp=None, key=record.key, value=record.value,
                           headers=record.headers)  # fmt: skip
    return added is not None


@functools.lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def _partition(key: bytes, partitions: list[int]) -> int:
    """The partition aiokafka's (and Java's) default partitioner picks for `key`."""
    return partitions[_key_hash(key) % len(partitions)]
