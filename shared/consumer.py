"""The consumer runner: at-least-once delivery made effectively-once.

For every record: decode the CloudEvent, then in ONE database transaction claim its event id and
run the handler; only after that transaction commits does the offset move. A redelivered event
finds its id claimed and changes nothing. A handler that keeps failing is retried with backoff,
then the record goes to the dead-letter topic with the error and its original headers, and the
partition moves on. A record that is not a readable CloudEvent goes there at once.

In batch mode (a `BatchRegistry`, `shared.consumer_batch`) the transaction is one per fetched
batch and group of partitions, and a failed batch is applied again one event at a time.

A failure while PostgreSQL or the broker is away is not the event's: the runner pauses until
the part answers (`shared.consumer_outage`), then tries again; nothing is dead-lettered for it.
"""

import asyncio
import re
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import metrics, topics
from shared.consumer_batch import (
    BatchRegistry,
    Partitioned,
    Record,
    apply_batch,
    packed,
    sort_records,
)
from shared.consumer_outage import ConsumerStopping, Outage, OutageWatch
from shared.db import InfrastructureTables, claim_event, ping, transaction
from shared.events import CloudEvent, EnvelopeError, EventData, KafkaRecord, decode
from shared.kafka import BrokerUnavailable, EventProducer
from shared.logging import get_logger
from shared.settings import BaseServiceSettings

Handler = Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]
HandlerRegistry = Mapping[type[EventData], Handler]

log = get_logger(__name__)
MAX_ERROR_HEADER = 2000
# asyncpg quotes the argument it could not encode: "query argument $1: <value> (<why>)".
_QUOTED_ARGUMENT = re.compile(r"(query argument \$\d+[^:\n]*): [^\n]*?(?= \([^()\n]*\)$|$)", re.M)
OUTCOMES = ("handled", "duplicate", "ignored", "retried", "deadlettered")


class ConsumerRunner:
    def __init__(
        self,
        *,
        settings: BaseServiceSettings,
        topics: list[str],
        handlers: HandlerRegistry | BatchRegistry,
        sessionmaker: async_sessionmaker[AsyncSession],
        tables: InfrastructureTables,
        producer: EventProducer,
        group_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._service = settings.service_name
        self._topics = topics
        self._handlers = handlers
        self._sessionmaker = sessionmaker
        self._tables = tables
        self._producer = producer
        self._group_id = group_id or settings.consumer_group
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self._pending: dict[TopicPartition, int] = {}
        self._watch = OutageWatch(
            {"postgres": self._ping_postgres, "kafka": producer.check},
            service=self._service,
            first_delay=settings.consumer_retry_backoff_seconds,
            stopping=self._stopping,
        )

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def outage(self) -> Outage | None:
        """What the runner is paused for (it is not ready meanwhile), or None."""
        return self._watch.outage

    async def _ping_postgres(self) -> None:
        async with self._sessionmaker() as session:
            await ping(session)

    @property
    def _kafka(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the consumer runner was not started")
        return self._consumer

    async def start(self) -> None:
        for topic in self._topics:  # every series exists from the start, so rate() sees the first
            for outcome in OUTCOMES:
                metrics.CONSUMER_EVENTS.labels(self._service, topic, outcome)
            metrics.CONSUMER_BATCH_SIZE.labels(self._service, topic)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.consumer_max_batch,
            fetch_min_bytes=self._settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=self._settings.consumer_fetch_max_wait_ms,
            session_timeout_ms=self._settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=self._settings.consumer_session_timeout_ms // 4,
        )
        # Subscribing before start joins the group at start; after it, at the next metadata refresh.
        listener = _CommitOnRevoke(self.commit_before_revoke)
        self._consumer.subscribe(self._topics, listener=listener)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._group_id}")

    async def stop(self) -> None:
        """Stop fetching, let the batch in hand finish, commit its offsets, leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), self._settings.shutdown_grace_seconds
                )
            except TimeoutError:
                self._task.cancel()
            except Exception:  # already logged by _run; stopping must go on
                log.debug("consumer task had failed", group=self._group_id)
        if self._consumer is not None:
            await self._commit_pending()
            try:
                await self._consumer.stop()
            except KafkaError as exc:  # the broker went first; the group expires us instead
                log.warning("consumer did not leave its group cleanly", error=repr(exc))

    async def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                batch = await self._kafka.getmany(timeout_ms=200)
                async with self._batch_lock:
                    await self._process_fetch(batch)
                # Outside the lock: a commit may have to wait for a rebalance, whose revoke
                # callback takes the lock.
                await self._commit_pending()
                await self._record_lag()
        except ConsumerStopping:
            log.info("consumer stopped during an outage", group=self._group_id)
        except Exception:
            log.exception("consumer stopped on an unexpected error", group=self._group_id)
            raise

    async def _process_fetch(self, batch: Mapping[TopicPartition, list[Record]]) -> None:
        """The partitions of one fetch side by side, each in order: one transaction's database
        round trips overlap another's decoding and handling. Their keys differ, so they touch
        different rows. In batch mode a few partitions share a transaction (`packed`)."""
        in_flight = asyncio.Semaphore(self._settings.consumer_partitions_in_flight)
        handlers = self._handlers

        async def process(group: list[Partitioned]) -> None:
            async with in_flight:
                if isinstance(handlers, BatchRegistry):
                    await self._process_batch(group, handlers)
                else:
                    await self._process_partition(*group[0], handlers)

        if isinstance(handlers, BatchRegistry):
            settings = self._settings
            each = settings.consumer_max_batch // settings.consumer_partitions_in_flight
            groups = packed(batch, records=max(each, 1))
        else:
            groups = [[partition] for partition in batch.items()]
        async with asyncio.TaskGroup() as group:
            for partitions in groups:
                group.create_task(process(partitions))

    async def _process_partition(
        self, partition: TopicPartition, records: list[Record], handlers: HandlerRegistry
    ) -> None:
        metrics.CONSUMER_BATCH_SIZE.labels(self._service, partition.topic).observe(len(records))
        for record in records:
            started = time.perf_counter()
            outcome = await self._process(record, handlers)
            metrics.CONSUMER_EVENTS.labels(self._service, record.topic, outcome).inc()
            metrics.CONSUMER_PROCESSING.labels(self._service, record.topic).observe(
                time.perf_counter() - started
            )
            self._pending[partition] = record.offset + 1

    async def _process_batch(self, group: list[Partitioned], registry: BatchRegistry) -> None:
        started = time.perf_counter()
        topic = group[0][0].topic
        records = [record for _, partition_records in group for record in partition_records]
        metrics.CONSUMER_BATCH_SIZE.labels(self._service, topic).observe(len(records))
        sorted_records = sort_records(records, registry)
        outcomes = Counter({"ignored": sorted_records.ignored})
        if sorted_records.to_apply:
            applied = await self._apply_batch(sorted_records.to_apply, registry)
            if applied is None:  # the batch failed: its events one at a time
                applied = await self._apply_each(sorted_records.to_apply, registry)
            outcomes.update(applied)
        for record, error in sorted_records.unreadable:
            await self._send_to_dead_letters(record, error, attempts=0)
            outcomes["deadlettered"] += 1
        self._count_batch(topic, outcomes, len(records), time.perf_counter() - started)
        for partition, partition_records in group:
            self._pending[partition] = partition_records[-1].offset + 1

    async def _apply_batch(
        self, events: Sequence[tuple[ConsumerRecord[bytes, bytes], CloudEvent[Any]]],
        registry: BatchRegistry,
    ) -> Counter[str] | None:  # fmt: skip
        """The outcomes of the batch applied in one transaction, or None when it failed (and
        not for an outage: that is waited out and the batch tried again)."""
        while True:
            try:
                async with transaction(self._sessionmaker) as session:
                    fresh = await apply_batch(
                        session, registry, [event for _, event in events],
                        processed_events=self._tables.processed_events, consumer=self._group_id,
                    )  # fmt: skip
                return Counter({"handled": len(fresh), "duplicate": len(events) - len(fresh)})
            except Exception as exc:
                failure = exc
            part = await self._watch.part_down(failure)
            if part is None:
                topic = events[0][0].topic
                log.warning("batch failed, applying its events one at a time", size=len(events),
                            topic=topic, error=error_text(failure))  # fmt: skip
                metrics.CONSUMER_BATCHES_FAILED.labels(self._service, topic).inc()
                return None
            await self._watch.wait_until_back(part)

    async def _apply_each(
        self, events: Sequence[tuple[ConsumerRecord[bytes, bytes], CloudEvent[Any]]],
        registry: BatchRegistry,
    ) -> Counter[str]:  # fmt: skip
        """Each event in its own transaction, with the per-event retries: only a poison event
        is dead-lettered."""
        handler = registry.one_at_a_time()
        outcomes: Counter[str] = Counter()
        for record, event in events:
            outcomes[await self._apply_with_retries(record, event, handler)] += 1
        return outcomes

    def _count_batch(
        self, topic: str, outcomes: Counter[str], records: int, seconds: float
    ) -> None:
        for outcome, count in outcomes.items():
            if count:
                metrics.CONSUMER_EVENTS.labels(self._service, topic, outcome).inc(count)
        processing = metrics.CONSUMER_PROCESSING.labels(self._service, topic)
        for _ in range(records):  # every record waited the batch's time for its commit
            processing.observe(seconds)

    async def _process(
        self, record: ConsumerRecord[bytes, bytes], handlers: HandlerRegistry
    ) -> str:
        try:
            event = decode(record.headers, record.value)
        except EnvelopeError as exc:
            await self._send_to_dead_letters(record, exc, attempts=0)
            return "deadlettered"
        handler = handlers.get(type(event.data))
        if handler is None:
            return "ignored"
        return await self._apply_with_retries(record, event, handler)

    async def _apply_with_retries(
        self, record: ConsumerRecord[bytes, bytes], event: CloudEvent[Any], handler: Handler
    ) -> str:
        """Apply `event`, retried with backoff; after the last attempt, dead-letter it. An attempt
        that failed because PostgreSQL or the broker is away is tried again once it is back, and
        does not count."""
        attempt = 1
        while True:
            try:
                return await self._apply(event, handler)
            except Exception as exc:
                failure = exc
            part = await self._watch.part_down(failure)
            if part is not None:
                await self._watch.wait_until_back(part)
                continue
            if attempt == self._settings.consumer_max_attempts:
                await self._send_to_dead_letters(record, failure, attempts=attempt)
                return "deadlettered"
            metrics.CONSUMER_EVENTS.labels(self._service, record.topic, "retried").inc()
            log.warning("handler failed, retrying", event_id=event.id, attempt=attempt,
                        error=error_text(failure))  # fmt: skip
            await asyncio.sleep(self._settings.consumer_retry_backoff_seconds * 2 ** (attempt - 1))
            attempt += 1

    async def _apply(self, event: CloudEvent[Any], handler: Handler) -> str:
        async with transaction(self._sessionmaker) as session:
            first_time = await claim_event(
                session, self._tables.processed_events, consumer=self._group_id, event_id=event.id
            )
            if not first_time:
                return "duplicate"
            await handler(session, event)
        return "handled"

    async def _send_to_dead_letters(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int
    ) -> None:
        """Dead-letter `record`, waiting while the broker is away: the offset never passes a
        record that is neither applied nor dead-lettered."""
        while True:
            try:
                await self._dead_letter(record, error, attempts=attempts)
                return
            except BrokerUnavailable as exc:
                part = await self._watch.part_down(exc)
                if part is None:
                    raise
                await self._watch.wait_until_back(part)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int
    ) -> None:
        detail = error_text(error)[:MAX_ERROR_HEADER]
        headers = [
            *record.headers,
            ("dlq_error", detail.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_consumer_group", self._group_id.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        dead = KafkaRecord(key=record.key or b"", value=record.value or b"", headers=headers)
        # Raises when the broker cannot take it: the offset then stays where it is.
        await self._producer.send(self._settings.topic(topics.DEADLETTER), dead)
        log.error("event dead-lettered", topic=record.topic, partition=record.partition,
                  offset=record.offset, error=detail)  # fmt: skip

    async def commit_before_revoke(self, revoked: set[TopicPartition]) -> None:
        """Finish the batch in hand, then commit what was applied of the revoked partitions."""
        async with self._batch_lock:
            await self._commit_pending(revoked)

    async def _commit_pending(self, only: set[TopicPartition] | None = None) -> None:
        offsets = {tp: off for tp, off in self._pending.items() if only is None or tp in only}
        if not offsets:
            return
        try:
            await self._kafka.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on; whoever owns the partition now re-reads from the last commit,
            # and the claimed event ids make that harmless.
            log.warning("offset commit failed", error=repr(exc), group=self._group_id)
        for tp in offsets:
            self._pending.pop(tp, None)

    async def _record_lag(self) -> None:
        for tp in self._kafka.assignment():
            highwater = self._kafka.highwater(tp)
            if highwater is None:
                continue
            position = await self._kafka.position(tp)
            metrics.CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(
                max(highwater - position, 0)
            )


def error_text(error: BaseException) -> str:
    """The error's class and message, less what it quotes of the data (a fan's ids, an order's
    amount): SQLAlchemy's ``[SQL: …]`` and ``[parameters: …]``, the argument asyncpg quotes."""
    if isinstance(error, StatementError):  # its str() adds the statement and the parameters
        text = f"{type(error).__module__}.{type(error).__qualname__}: {error.args[0]}"
    else:
        text = "".join(traceback.format_exception_only(error)).strip()
    return _QUOTED_ARGUMENT.sub(r"\1", text)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions go to another member, `commit` what was applied of them."""

    def __init__(self, commit: Callable[[set[TopicPartition]], Awaitable[None]]) -> None:
        self._commit = commit

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._commit(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
