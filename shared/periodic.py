"""A background loop that runs one job every so often until the service stops."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from shared.logging import get_logger

log = get_logger(__name__)


class PeriodicTask:
    """Runs `job` now and then every `interval` seconds; a failing run is logged and retried at
    the next tick. `stop()` lets a running job finish.

    With `drain=True` the job's result says whether work is left (truthy): it then runs again
    at once instead of waiting for the tick, and `stop()` waits for one last run begun after
    the stop was asked for (and the runs after it while work is left), so that nothing
    committed during an earlier run is left behind.

    A nudge runs the job `linger` seconds later, with what more came meanwhile."""

    def __init__(
        self,
        name: str,
        interval: float,
        job: Callable[[], Awaitable[object]],
        *,
        drain: bool = False,
        linger: float = 0.0,
    ) -> None:
        self.name = name
        self._interval = interval
        self._linger = linger
        self._job = job
        self._drains = drain
        self._stopping = asyncio.Event()
        self._nudged = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def nudge(self) -> None:
        """Run the job now rather than at the next tick (there is work for it)."""
        self._nudged.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            # Read before the run: a draining task's last run must begin after stop() was asked
            # for, or work committed during an earlier run would be left behind.
            last = self._stopping.is_set()
            if last and not self._drains:
                return
            self._nudged.clear()  # a nudge during the run runs it again at once
            found_work = await self._run_job()
            if self._drains and found_work:
                continue
            if last:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped_or_nudged(), self._interval)
            if self._linger and self._nudged.is_set() and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._linger)

    async def _stopped_or_nudged(self) -> None:
        waits = [asyncio.ensure_future(self._stopping.wait()),
                 asyncio.ensure_future(self._nudged.wait())]  # fmt: skip
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _run_job(self) -> object:
        """The job's result, or None when it failed."""
        try:
            return await self._job()
        except Exception:
            log.exception("periodic job failed; will retry", job=self.name)
            return None
