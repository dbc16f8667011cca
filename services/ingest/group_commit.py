"""Group commit: the webhooks that arrive together are de-duplicated and produced together.

This is ingest's second edge, beside the HTTP one: like the consumer runner it owns the
transactions of what it runs (services flush; edges commit), but on connections of its own, not
the SQLAlchemy pool's, since the webhook path is the hot one (README: "Design").

Each request hands its events over and waits. A batch is whatever has queued (up to
`max_batch`); up to `max_in_flight` batches commit at once, each in ONE database transaction that
claims all their ids (one INSERT), produces the new events, waits for Kafka to acknowledge every
one, answers the requests, and then commits (and begins the next batch's transaction in the same
round trip). A failure before Kafka has every event rolls back
the whole batch and every request in it answers 503, so the platforms retry: nothing is
acknowledged that Kafka does not have, and a claim never outlives an unproduced event.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from services.ingest import repository
from shared.contracts import FanEvent, topic_of
from shared.db import asyncpg_dsn
from shared.events import CloudEvent, KafkaRecord, encode
from shared.kafka import BrokerUnavailable, EventProducer
from shared.logging import get_logger
from shared.settings import KafkaSettings

log = get_logger(__name__)

IDLE_SECONDS = 1.0  # a worker's begun transaction is rolled back after this long without work
CLOSE_TIMEOUT = 2.0


@dataclass
class _Submission:
    platform: str
    account: str
    events: Sequence[CloudEvent[FanEvent]]
    done: asyncio.Future[set[str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    def __init__(
        self, *, database_url: str, producer: EventProducer, topics: KafkaSettings,
        max_batch: int = 500, max_in_flight: int = 8,
    ) -> None:  # fmt: skip
        self._dsn = asyncpg_dsn(database_url)
        self._producer = producer
        self._topics = topics  # the deployment's topic names
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._waiting: set[asyncio.Task[None]] = set()  # workers waiting for a batch
        self._stopping = False

    @property
    def healthy(self) -> bool:
        return bool(self._workers) and not any(worker.done() for worker in self._workers)

    async def start(self) -> None:
        # One worker per batch in flight, each on its own asyncpg connection (on this path
        # SQLAlchemy cost a quarter of the throughput, make bench-ingest).
        self._workers = [
            asyncio.create_task(self._work(), name=f"ingest-group-commit-{n}")
            for n in range(self._max_in_flight)
        ]

    async def stop(self) -> None:
        """The batches being committed finish; requests still queued get a retryable answer."""
        self._stopping = True
        for worker in self._waiting:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self._queue.empty():
            waiting = self._queue.get_nowait().done
            if not waiting.done():  # a request the server already cancelled has none
                waiting.set_exception(BrokerUnavailable("shutting down"))

    async def submit(
        self, platform: str, account: str, events: Sequence[CloudEvent[FanEvent]]
    ) -> set[str]:
        """The ids among `events` that were new (and are now on Kafka); raises BrokerUnavailable."""
        submission = _Submission(platform, account, events)
        self._queue.put_nowait(submission)  # unbounded: the HTTP server bounds the requests
        return await submission.done

    async def _work(self) -> None:
        """Take what has queued, commit it, again. Under load the connection has the next
        transaction begun between batches, so a batch's path is the claim, Kafka and the
        answers; after IDLE_SECONDS without work that transaction is rolled back."""
        connection: asyncpg.Connection | None = None
        begun = False
        try:
            while not self._stopping:
                batch = await self._next_batch(idle_out=begun)
                if batch is None:  # idle: the begun transaction is given up
                    assert connection is not None  # noqa: S101 (only a begun one idles out)
                    connection, begun = await _rolled_back(connection), False
                    continue
                try:
                    if connection is None:
                        connection = await asyncpg.connect(
                            self._dsn, timeout=repository.CLAIM_TIMEOUT
                        )
                    if not begun:
                        await repository.begin(connection)
                        begun = True
                    await self._commit(connection, batch)
                except BaseException as exc:
                    _fail(batch, exc)
                    # Never reused after a failure (the server rolls the claims back): a
                    # cancelled statement can leave it in any state. Opened again when needed.
                    if connection is not None:
                        connection.terminate()
                    connection, begun = None, False
                    if not isinstance(exc, Exception):
                        raise
        finally:
            if connection is not None:  # a begun transaction holds nothing yet: no claims
                try:
                    await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT)
                except Exception:
                    connection.terminate()

    async def _next_batch(self, *, idle_out: bool) -> list[_Submission] | None:
        """Whatever has queued (at least one, at most max_batch); None after IDLE_SECONDS
        without any if `idle_out`."""
        worker = asyncio.current_task()
        assert worker is not None  # noqa: S101
        self._waiting.add(worker)
        try:
            async with asyncio.timeout(IDLE_SECONDS if idle_out else None):
                batch = [await self._queue.get()]  # cancelled, it takes nothing from the queue
        except TimeoutError:
            return None
        finally:
            self._waiting.discard(worker)
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _commit(self, connection: asyncpg.Connection, batch: list[_Submission]) -> None:
        claims = [(s.platform, s.account, e.id) for s in batch for e in s.events]
        new_ids = await repository.claim_new_events(connection, claims)
        owned: list[set[str]] = []
        records: list[tuple[str, KafkaRecord]] = []
        for submission in batch:
            # the same event twice in one batch (or one push) is produced once
            mine = {e.id: e for e in submission.events if e.id in new_ids}
            new_ids -= mine.keys()
            owned.append(set(mine))
            records += [(self._topic(e), encode(e)) for e in mine.values()]
        await self._producer.send_many(records)
        # Kafka has every event: the requests are answered now, before the COMMIT, which only
        # keeps the claims (they stop a later retry from being produced again). Waiting for it
        # cost a round trip per webhook in the closed loop of make bench-ingest. Should it fail,
        # nothing is lost: a retry the platform makes anyway is produced again, and consumers
        # de-duplicate by event id. A concurrent copy waits on the claims' row locks meanwhile.
        for submission, new in zip(batch, owned, strict=True):
            if not submission.done.done():
                submission.done.set_result(new)
        await repository.commit_and_begin(connection)

    def _topic(self, event: CloudEvent[FanEvent]) -> str:
        return self._topics.topic(topic_of(event.data))


async def _rolled_back(connection: asyncpg.Connection) -> asyncpg.Connection | None:
    """The connection after giving up its begun transaction; None if it broke while idle (it
    is opened again when needed)."""
    try:
        await repository.roll_back(connection)
    except Exception:
        connection.terminate()
        return None
    return connection


def _fail(batch: list[_Submission], exc: BaseException) -> None:
    """One outcome for the whole batch: every request not yet answered gets a retryable one."""
    unanswered = [s for s in batch if not s.done.done()]
    if unanswered:
        log.warning("webhook batch not committed", size=len(batch), error=repr(exc))
    else:  # answered: Kafka has the events, only their claims were not kept
        log.warning(
            "claims not kept after their events were produced: a retry of these webhooks "
            "would be produced again", size=len(batch), error=repr(exc),
        )  # fmt: skip
    failure = exc if isinstance(exc, BrokerUnavailable) else BrokerUnavailable(repr(exc))
    for submission in unanswered:
        submission.done.set_exception(failure)
