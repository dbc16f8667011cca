"""A timer per pending deadline, warning and snooze end, fired when responder's clock reaches it.

Timers live in a heap in each replica: those this replica's own changes set, and those any
replica's changes set, read from the database at start-up and every `scan_seconds` for the
`horizon` ahead, so a restart or another replica's crash loses none. Firing is a conditional
update in the database (`service.fire`): a timer fired by two replicas, or left behind by a
deadline that moved, has one effect or none. A breach is seen as soon as the clock passes its
deadline, not at the next poll."""

import asyncio
import contextlib
import heapq
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.responder import metrics
from services.responder.time_source import TimeSource
from shared.logging import get_logger

log = get_logger(__name__)
# Timers a scan hands over between two turns of the event loop: a scan re-reads every timer of
# the horizon (tens of thousands with 100,000 conversations open), which in one go would hold
# up the loop that fires them.
SCHEDULE_CHUNK = 1000
TimerKind = Literal["warning", "breach", "wake"]


@dataclass(frozen=True, order=True)
class Timer:
    at: datetime
    kind: TimerKind = field(compare=True)
    ref: uuid.UUID = field(compare=True)  # the clock's id, or the conversation's (wake)


Fire = Callable[[list[Timer]], Awaitable[None]]
Scan = Callable[[datetime], Awaitable[list[Timer]]]


class Timers:
    name = "sla-timers"

    def __init__(
        self, clock: TimeSource, *, fire: Fire, scan: Scan, scan_seconds: float,
        horizon: timedelta, batch: int = 500,
    ) -> None:  # fmt: skip
        self._clock, self._fire, self._scan = clock, fire, scan
        self._scan_seconds, self._horizon, self._batch = scan_seconds, horizon, batch
        self._heap: list[Timer] = []
        self._known: set[Timer] = set()
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._scanned = False  # the first scan read the deadlines due within the horizon

    @property
    def healthy(self) -> bool:
        """Running, and the deadlines the database held at start are known: until then a
        replica is not ready (a clock set meanwhile could find them first)."""
        return self._scanned and bool(self._tasks) and not any(t.done() for t in self._tasks)

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, timers: Iterable[Timer]) -> None:
        """Add timers (one already set is not set twice)."""
        added = False
        for timer in timers:
            if timer not in self._known:
                self._known.add(timer)
                heapq.heappush(self._heap, timer)
                added = True
        if added:
            metrics.TIMERS_PENDING.set(len(self._heap))
            self._changed.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._fire_when_due(), name="sla-timers-fire"),
            asyncio.create_task(self._restore(), name="sla-timers-scan"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _restore(self) -> None:
        """Every `scan_seconds`, the timers due within the horizon, from the database."""
        while not self._stopping.is_set():
            try:
                await self._schedule_in_chunks(await self._scan(self._clock.now() + self._horizon))
                self._scanned = True
            except Exception:
                log.exception("reading the timers from the database failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._scan_seconds)

    async def _schedule_in_chunks(self, timers: list[Timer]) -> None:
        """Schedule `timers`, letting the firing loop run between chunks."""
        for first in range(0, len(timers), SCHEDULE_CHUNK):
            self.schedule(timers[first : first + SCHEDULE_CHUNK])
            await asyncio.sleep(0)

    async def _fire_when_due(self) -> None:
        while not self._stopping.is_set():
            due = self._take_due()
            if due:
                await self._fire_safely(due)
                continue
            await self._wait_for_next()

    def _take_due(self) -> list[Timer]:
        now, due = self._clock.now(), list[Timer]()
        while self._heap and self._heap[0].at <= now and len(due) < self._batch:
            timer = heapq.heappop(self._heap)
            self._known.discard(timer)
            due.append(timer)
        metrics.TIMERS_PENDING.set(len(self._heap))
        return due

    async def _fire_safely(self, due: list[Timer]) -> None:
        try:
            await self._fire(due)
        except Exception:
            log.exception("firing timers failed; they are tried again", timers=len(due))
            await asyncio.sleep(0.5)
            self.schedule(due)

    async def _wait_for_next(self) -> None:
        """Until the earliest timer is due, or a timer was added (it may be earlier)."""
        self._changed.clear()
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
        if self._heap:
            waits.append(asyncio.ensure_future(self._clock.wait_until(self._heap[0].at)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
