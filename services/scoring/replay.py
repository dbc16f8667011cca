"""The rebuild's reading: the events topic from its first offsets, applied to the rebuild's
tables with the live consumer's own code, and how far it has got (`Progress`)."""

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring import metrics
from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from services.scoring.rebuild_repository import RebuildRefused
from shared.consumer import error_text
from shared.consumer_batch import BatchRegistry, apply_batch, sort_records
from shared.db import ping, transaction
from shared.events import CloudEvent
from shared.logging import get_logger

log = get_logger(__name__)
Record: TypeAlias = ConsumerRecord[bytes, bytes]


class Progress:
    """What the rebuild has done: for its report, on its gauges (`metrics.REBUILD_*`), and in
    a log line every `log_every` records read."""

    def __init__(self, log_every: int) -> None:
        self.to_read = self.read = self.applied = self.skipped = self.rescored = 0
        self._to_read: dict[str, int] = {}
        self._log_every = log_every
        self._next_log = log_every
        self._started = time.monotonic()
        for gauge in (metrics.REBUILD_EVENTS_TO_READ, metrics.REBUILD_EVENTS_READ,
                      metrics.REBUILD_EVENTS_APPLIED, metrics.REBUILD_EVENTS_SKIPPED,
                      metrics.REBUILD_PROFILES_RESCORED):  # fmt: skip
            gauge.set(0)

    def phase(self, name: str) -> None:
        for phase in metrics.REBUILD_PHASES:
            metrics.REBUILD_PHASE.labels(phase).set(1 if phase == name else 0)
        log.info("rebuild phase", phase=name, read=self.read, to_read=self.to_read)

    def expect(self, topic: str, to_read: int) -> None:
        """`to_read` events of `topic` in all (read or not): the total is of every topic."""
        self._to_read[topic] = to_read
        self.to_read = sum(self._to_read.values())
        metrics.REBUILD_EVENTS_TO_READ.set(self.to_read)

    def counted(self, *, read: int, applied: int, skipped: int) -> None:
        self.read, self.applied, self.skipped = (
            self.read + read, self.applied + applied, self.skipped + skipped
        )  # fmt: skip
        metrics.REBUILD_EVENTS_READ.set(self.read)
        metrics.REBUILD_EVENTS_APPLIED.set(self.applied)
        metrics.REBUILD_EVENTS_SKIPPED.set(self.skipped)
        if self.read >= self._next_log:
            self._next_log = self.read - self.read % self._log_every + self._log_every
            rate = self.read / max(time.monotonic() - self._started, 1e-9)
            log.info("rebuild progress", read=self.read, to_read=self.to_read,
                     applied=self.applied, skipped=self.skipped,
                     per_second=round(rate))  # fmt: skip

    def rescored_profiles(self, count: int) -> None:
        self.rescored += count
        metrics.REBUILD_PROFILES_RESCORED.set(self.rescored)


class Replay:
    """A topic from its first offsets, applied to the rebuild's tables as the live consumer
    applies it. Claims are recorded under the live consumer group's name (`claimant`): after a
    swap the live consumer then recognises what the rebuild applied."""

    def __init__(
        self,
        settings: ScoringSettings,
        *,
        topic: str,
        claimant: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        registry: BatchRegistry,
        progress: Progress,
        batch_size: int,
    ) -> None:
        self._topic = topic
        self._claimant = claimant
        self._sessionmaker = sessionmaker
        self._registry = registry
        self._progress = progress
        self._batch_size = batch_size
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self._first: dict[TopicPartition, int] = {}

    @property
    def claimant(self) -> str:
        return self._claimant

    async def __aenter__(self) -> "Replay":
        await self._consumer.start()
        try:
            await self._assign()
        except BaseException:
            await self._consumer.stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._consumer.stop()

    async def _assign(self) -> None:
        # As shared.deadletters does: topics() would leave the consumer's own metadata stale.
        await self._consumer._client.force_metadata_update()
        numbers = self._consumer.partitions_for_topic(self._topic) or set()
        if not numbers:
            raise RebuildRefused(f"the topic {self._topic} has no partitions: does it exist?")
        partitions = [TopicPartition(self._topic, number) for number in sorted(numbers)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._first = await self._consumer.beginning_offsets(partitions)
        if any(self._first.values()):
            log.warning("the topic no longer holds its first events (retention): the profiles "
                        "are rebuilt from what it holds", topic=self._topic)  # fmt: skip

    async def read_to_end(self) -> None:
        """Apply the topic up to its end offsets as they are now; again later, what came since."""
        consumer, partitions = self._consumer, list(self._first)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        self._progress.expect(self._topic, sum(ends[tp] - self._first[tp] for tp in partitions))
        while unread := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            fetched = await consumer.getmany(*unread, timeout_ms=500, max_records=self._batch_size)
            for tp, records in fetched.items():
                await self._apply([record for record in records if record.offset < ends[tp]])
                if records and records[-1].offset >= ends[tp]:
                    consumer.seek(tp, ends[tp])  # what lies past the end waits for the next call

    async def _apply(self, records: Sequence[Record]) -> None:
        if not records:
            return
        sorted_records = sort_records(records, self._registry)
        for record, error in sorted_records.unreadable:  # the live consumer dead-lettered these
            log.warning("record skipped: not an event", partition=record.partition,
                        offset=record.offset, error=str(error))  # fmt: skip
        events = [event for _, event in sorted_records.to_apply]
        applied, failed = await self._apply_events(events) if events else (0, 0)
        unreadable = len(sorted_records.unreadable)
        self._progress.counted(read=len(records), applied=applied, skipped=failed + unreadable)

    async def _apply_events(self, events: Sequence[CloudEvent[Any]]) -> tuple[int, int]:
        """Applied and failed: the batch in one transaction, or, when that fails, each event in
        its own, leaving out those that fail (the live consumer dead-lettered them)."""
        try:
            return await self._claim_and_apply(events), 0
        except Exception as exc:
            log.warning("batch failed, applying its events one at a time", size=len(events),
                        error=error_text(exc))  # fmt: skip
        applied = failed = 0
        for event in events:
            try:
                applied += await self._claim_and_apply([event])
            except Exception as exc:
                await self._database_answers()  # else stop: it is not the event's failure
                log.error("event skipped: its scoring fails", event_id=event.id,
                          error=error_text(exc))  # fmt: skip
                failed += 1
        return applied, failed

    async def _claim_and_apply(self, events: Sequence[CloudEvent[Any]]) -> int:
        async with transaction(self._sessionmaker) as session:
            fresh = await apply_batch(
                session, self._registry, events,
                processed_events=infrastructure.processed_events, consumer=self._claimant,
            )  # fmt: skip
        return len(fresh)

    async def _database_answers(self) -> None:
        async with self._sessionmaker() as session:
            await ping(session)
