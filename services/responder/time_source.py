"""The one clock responder reads the time from: the system's, or a simulated one that an admin
sets and advances (`RESPONDER_CLOCK=simulated`), so that a day of traffic plays out in seconds
with the outcomes it has in real time. Every deadline is computed from event times; the clock
only says which of them have passed, and wakes the timers when they do."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class TimeSource(Protocol):
    def now(self) -> datetime: ...

    async def wait_until(self, at: datetime) -> None:
        """Return once `now()` is at or past `at`."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait_until(self, at: datetime) -> None:
        # The loop: a sleep may end a little early by the system clock.
        while (left := (at - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)


class ClockWentBack(ValueError):
    """A simulated clock only moves forward: the deadlines already passed stay passed."""


class SimulatedClock:
    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    async def wait_until(self, at: datetime) -> None:
        while self._now < at:
            moved = self._moved
            await moved.wait()

    def set(self, at: datetime) -> datetime:
        if at < self._now:
            raise ClockWentBack(f"the clock is at {self._now.isoformat()}: it cannot go back")
        self._now = at.astimezone(UTC)
        self._moved.set()
        self._moved = asyncio.Event()  # the next wait waits for the next move
        return self._now

    def advance(self, by: timedelta) -> datetime:
        return self.set(self._now + by)
