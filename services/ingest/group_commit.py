"""Group commit: the webhooks that arrive together are de-duplicated and produced together.

Each request hands its events over and waits. A batch is whatever has queued (up to
`max_batch`); up to `max_in_flight` batches commit at once, each in ONE database transaction that
claims all their ids (one INSERT), produces the new
events, waits for Kafka to acknowledge every one, and only then commits. A failure rolls back the
whole batch and every request in it answers 503, so the platforms retry: nothing is acknowledged
that Kafka does not have, and a claim never outlives an unproduced event.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest import repository
from shared.events import CloudEvent, encode
from shared.kafka import BrokerUnavailable, EventProducer
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class _Submission:
    platform: str
    account: str
    events: Sequence[CloudEvent[Any]]
    done: asyncio.Future[set[str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    def __init__(
        self, *, engine: AsyncEngine, producer: EventProducer,
        topic_for: Any, max_batch: int = 500, max_in_flight: int = 8,
    ) -> None:  # fmt: skip
        self._engine = engine
        self._producer = producer
        self._topic_for = topic_for
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        while not self._queue.empty():  # requests still waiting get a retryable answer
            waiting = self._queue.get_nowait().done
            if not waiting.done():  # a request the server already cancelled has none
                waiting.set_exception(BrokerUnavailable("shutting down"))

    async def submit(
        self, platform: str, account: str, events: Sequence[CloudEvent[Any]]
    ) -> set[str]:
        """The ids among `events` that were new (and are now on Kafka); raises BrokerUnavailable."""
        submission = _Submission(platform, account, events)
        await self._queue.put(submission)
        return await submission.done

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self._max_in_flight)
        while True:
            # A slot first, then the batch: while every slot is busy, the next batch grows.
            await slots.acquire()
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            task = asyncio.create_task(self._settle(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _settle(self, batch: list[_Submission]) -> None:
        try:
            results = await self._commit(batch)
        except BaseException as exc:  # one outcome for the whole batch: every request retries
            log.warning("webhook batch not committed", size=len(batch), error=repr(exc))
            failure = exc if isinstance(exc, BrokerUnavailable) else BrokerUnavailable(repr(exc))
            for submission in batch:
                if not submission.done.done():
                    submission.done.set_exception(failure)
            if not isinstance(exc, Exception):
                raise  # cancelled: its requests are answered, the cancellation goes on
            return
        for submission, new_ids in zip(batch, results, strict=True):
            if not submission.done.done():
                submission.done.set_result(new_ids)

    async def _commit(self, batch: list[_Submission]) -> list[set[str]]:
        claims = [(s.platform, s.account, e.id) for s in batch for e in s.events]
        # asyncpg directly (a pooled connection, its own transaction): on this path SQLAlchemy's
        # session cost a quarter of the throughput (make bench-ingest).
        async with self._engine.connect() as pooled:
            raw = await pooled.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, asyncpg.Connection)  # noqa: S101 (the asyncpg dialect)
            try:
                return await self._claim_and_produce(driver, batch, claims)
            except BaseException:
                # This pool neither pings nor resets: after any failure (a cancelled BEGIN or
                # ROLLBACK can leave asyncpg mid-transaction) the connection is not reused.
                await pooled.invalidate()
                raise

    async def _claim_and_produce(
        self, driver: asyncpg.Connection, batch: list[_Submission],
        claims: list[tuple[str, str, str]],
    ) -> list[set[str]]:  # fmt: skip
        async with driver.transaction():
            new_ids = await repository.claim_new_events(driver, claims)
            owned: list[set[str]] = []
            records = []
            for submission in batch:
                # the same event twice in one batch (or one push) is produced once
                mine = {e.id: e for e in submission.events if e.id in new_ids}
                new_ids -= mine.keys()
                owned.append(set(mine))
                records += [(self._topic_for(e), encode(e)) for e in mine.values()]
            await self._producer.send_many(records)
        return owned
