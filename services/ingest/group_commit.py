"""Group commit: the webhooks that arrive together are de-duplicated and produced together.

Each request hands its events over and waits. A batch is whatever has queued (up to
`max_batch`); up to `max_in_flight` batches commit at once, each in ONE database transaction that
claims all their ids (one INSERT), produces the new events, waits for Kafka to acknowledge every
one, answers the requests, and then commits. A failure before Kafka has every event rolls back
the whole batch and every request in it answers 503, so the platforms retry: nothing is
acknowledged that Kafka does not have, and a claim never outlives an unproduced event.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.ingest import repository
from shared.db import asyncpg_dsn
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
        self, *, database_url: str, producer: EventProducer,
        topic_for: Any, max_batch: int = 500, max_in_flight: int = 8,
    ) -> None:  # fmt: skip
        self._database_url = database_url
        self._pool: asyncpg.Pool | None = None
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

    async def start(self) -> None:
        # asyncpg's own pool, a connection per batch in flight: on this path SQLAlchemy cost a
        # quarter of the throughput (make bench-ingest). Every batch ends its own transaction,
        # so a returned connection needs no reset round trip; a connection returned
        # mid-transaction is rolled back by the pool, and one that failed is closed.
        self._pool = await asyncpg.create_pool(
            asyncpg_dsn(self._database_url), min_size=0, max_size=self._max_in_flight,
            reset=_session_kept,
        )  # fmt: skip
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
        if self._pool is not None:
            await self._pool.close()

    async def submit(
        self, platform: str, account: str, events: Sequence[CloudEvent[Any]]
    ) -> set[str]:
        """The ids among `events` that were new (and are now on Kafka); raises BrokerUnavailable."""
        submission = _Submission(platform, account, events)
        self._queue.put_nowait(submission)  # unbounded: the HTTP server bounds the requests
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
            await self._commit(batch)
        except BaseException as exc:  # one outcome for the whole batch: every request retries
            unanswered = [s for s in batch if not s.done.done()]
            if unanswered:
                log.warning("webhook batch not committed", size=len(batch), error=repr(exc))
            else:  # answered: Kafka has the events, only their claims were not kept
                log.warning("claims not kept after their events were produced: a retry of "
                            "these webhooks would be produced again", size=len(batch),
                            error=repr(exc))  # fmt: skip
            failure = exc if isinstance(exc, BrokerUnavailable) else BrokerUnavailable(repr(exc))
            for submission in unanswered:
                submission.done.set_exception(failure)
            if not isinstance(exc, Exception):
                raise  # cancelled: its requests are answered, the cancellation goes on

    async def _commit(self, batch: list[_Submission]) -> None:
        assert self._pool is not None, "start() first"  # noqa: S101
        claims = [(s.platform, s.account, e.id) for s in batch for e in s.events]
        async with self._pool.acquire(timeout=repository.CLAIM_TIMEOUT) as connection:
            try:
                await self._claim_and_produce(connection, batch, claims)
            except BaseException:
                # Never reused after a failure (the server rolls the claims back): a cancelled
                # BEGIN or ROLLBACK can leave it in any state. The pool opens a new one when
                # next needed. (A connection that broke by itself is already back in the pool,
                # and terminate() would raise.)
                with contextlib.suppress(asyncpg.InterfaceError):
                    connection.terminate()
                raise

    async def _claim_and_produce(
        self, connection: PoolConnectionProxy, batch: list[_Submission],
        claims: list[tuple[str, str, str]],
    ) -> None:  # fmt: skip
        transaction = connection.transaction()
        await transaction.start()
        new_ids = await repository.claim_new_events(connection, claims)
        owned: list[set[str]] = []
        records = []
        for submission in batch:
            # the same event twice in one batch (or one push) is produced once
            mine = {e.id: e for e in submission.events if e.id in new_ids}
            new_ids -= mine.keys()
            owned.append(set(mine))
            records += [(self._topic_for(e), encode(e)) for e in mine.values()]
        await self._producer.send_many(records)
        # Kafka has every event: the requests are answered now, before the COMMIT, which only
        # keeps the claims (they stop a later retry from being produced again). Waiting for it
        # cost a round trip per webhook in the closed loop of make bench-ingest. Should it fail,
        # nothing is lost: a retry the platform makes anyway is produced again, and consumers
        # de-duplicate by event id. A concurrent copy waits on the claims' row locks meanwhile.
        for submission, new in zip(batch, owned, strict=True):
            if not submission.done.done():
                submission.done.set_result(new)
        await transaction.commit()


async def _session_kept(connection: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (no LISTEN, no advisory locks, no session settings)."""
