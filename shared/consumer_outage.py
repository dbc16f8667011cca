"""Telling an outage from a poison event, and waiting an outage out.

A consumer's attempt can fail because of the event (a handler bug, data it cannot take) or because
PostgreSQL or the broker is away. The first kind is retried a few times and dead-lettered; the
second must never be: a database restart would send good events to the dead-letter topic. So a
failure that looks like lost infrastructure (a refused or broken connection, a server shutting
down, an unanswered produce) is checked with a cheap probe of that part; when the probe fails too,
the consumer stops fetching, reports itself not ready, and probes with capped backoff until the
part answers, then tries again. An attempt that failed during an outage does not count.

While it waits the runner fetches nothing and moves no offset (it is inside the batch in hand).
An outage longer than the consumer's max.poll.interval (5 minutes) makes it leave its group and
rejoin once it fetches again; the partitions' new owners re-read from the last committed offset,
which the claimed event ids make harmless.
"""

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Literal

import asyncpg
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import DBAPIError

from shared import metrics
from shared.kafka import BrokerUnavailable
from shared.logging import get_logger

log = get_logger(__name__)

Part = Literal["postgres", "kafka"]
Probe = Callable[[], Awaitable[None]]
MAX_BACKOFF_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 3.0

# What the database driver raises when the server is away or going: OSError (refused, reset,
# timed out), asyncpg's class 08 (connection exceptions, among them ConnectionDoesNotExistError)
# and the shutdown and start-up states of class 57P.
_POSTGRES_GONE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
# Paused watches per (service, part): a service may run several consumers, and its gauge reads 1
# while any of them waits.
_paused: collections.Counter[tuple[str, Part]] = collections.Counter()


class Outage(RuntimeError):
    """A consumer is paused until a part of its infrastructure answers again."""


class PostgresUnreachable(Outage):
    pass


class KafkaUnreachable(Outage):
    pass


class ConsumerStopping(Exception):
    """The consumer was asked to stop while it waited an outage out."""


def suspected_part(error: BaseException) -> Part | None:
    """The part whose loss `error` (or an error behind it) shows, or None for any other failure."""
    causes = list(_chain(error))
    if any(isinstance(cause, BrokerUnavailable | KafkaConnectionError) for cause in causes):
        return "kafka"
    if any(_lost_database_connection(cause) for cause in causes):
        return "postgres"
    return None


def _lost_database_connection(error: BaseException) -> bool:
    if isinstance(error, DBAPIError):
        return error.connection_invalidated
    return isinstance(error, _POSTGRES_GONE)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class OutageWatch:
    """One consumer's view of its infrastructure: which part it is waiting for, if any, also
    shown as `scrm_consumer_paused{service, part}`."""

    def __init__(
        self,
        probes: Mapping[Part, Probe],
        *,
        service: str,
        first_delay: float,
        stopping: asyncio.Event,
    ) -> None:
        self._probes = probes
        self._service = service
        for part in probes:  # every series exists from the start, reading 0
            metrics.CONSUMER_PAUSED.labels(service, part)
        self._first_delay = max(first_delay, 0.01)
        self._stopping = stopping
        self._waiting: collections.Counter[Part] = collections.Counter()  # waiting, by part

    @property
    def waiting_for(self) -> Part | None:
        return next((part for part, waiting in self._waiting.items() if waiting > 0), None)

    @property
    def outage(self) -> Outage | None:
        """What the consumer is paused for, as the error its readiness check raises."""
        if self.waiting_for == "postgres":
            return PostgresUnreachable("the consumer is paused until PostgreSQL answers")
        if self.waiting_for == "kafka":
            return KafkaUnreachable("the consumer is paused until the broker answers")
        return None

    async def part_down(self, error: BaseException) -> Part | None:
        """The part `error` came from when that part does not answer a probe now; otherwise
        None: the failure is the event's (or a blip), and counts as an attempt."""
        part = suspected_part(error)
        if part is None or await self.answers(part):
            return None
        return part

    async def wait_until_back(self, part: Part) -> None:
        """Probe `part` with capped backoff until it answers; not ready meanwhile.

        Raises ConsumerStopping when the consumer is stopped first."""
        self._waiting[part] += 1
        self._count_pause(part, 1)
        log.warning("infrastructure unreachable: consumer paused", part=part)
        delay = self._first_delay
        try:
            while True:
                await self._pause(delay)
                if await self.answers(part):
                    break
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        finally:
            self._waiting[part] -= 1
            self._count_pause(part, -1)
        log.warning("infrastructure back: consumer resumed", part=part)

    def _count_pause(self, part: Part, change: int) -> None:
        key = (self._service, part)
        _paused[key] += change
        metrics.CONSUMER_PAUSED.labels(*key).set(1 if _paused[key] > 0 else 0)

    async def answers(self, part: Part) -> bool:
        try:
            await asyncio.wait_for(self._probes[part](), PROBE_TIMEOUT_SECONDS)
        except Exception:
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        if self._stopping.is_set():
            raise ConsumerStopping
