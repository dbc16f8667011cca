"""PeriodicTask: one job now and every tick; a draining task runs again at once while it finds
work, and its stop() waits for a last run that began after the stop was asked for."""

import asyncio

from shared.periodic import PeriodicTask

TICK = 60.0  # never reached: the tests see only the runs that need no tick


class Backlog:
    """A job that takes everything waiting, one item a run, and says how much it took."""

    def __init__(self, waiting: int = 0) -> None:
        self.waiting = waiting
        self.runs = 0
        self.ran = asyncio.Condition()
        self.go_on = asyncio.Event()
        self.go_on.set()

    async def take_one(self) -> int:
        seen, self.waiting = self.waiting, max(self.waiting - 1, 0)
        async with self.ran:
            self.runs += 1
            self.ran.notify_all()
        await self.go_on.wait()
        return min(seen, 1)

    async def ran_at_least(self, runs: int) -> None:
        async with asyncio.timeout(5), self.ran:
            await self.ran.wait_for(lambda: self.runs >= runs)


class TestPeriodicTask:
    async def test_a_task_runs_its_job_at_start_and_stop_does_not_run_it_again(self) -> None:
        backlog = Backlog(waiting=3)
        task = PeriodicTask("plain", TICK, backlog.take_one)
        task.start()
        await backlog.ran_at_least(1)
        await task.stop()
        assert backlog.runs == 1, "a plain task waits for its tick, whatever the job found"
        assert not task.healthy

    async def test_a_failing_job_is_retried_at_the_next_tick_not_at_once(self) -> None:
        backlog = Backlog(waiting=3)

        async def fails() -> int:
            await backlog.take_one()
            raise RuntimeError("down")

        task = PeriodicTask("failing", TICK, fails, drain=True)
        task.start()
        await backlog.ran_at_least(1)
        assert task.healthy
        await task.stop()
        assert backlog.runs == 2, "the first run, then the last run stop() asks for"


class TestDrainingTask:
    async def test_a_job_that_found_work_runs_again_at_once_until_nothing_is_left(self) -> None:
        backlog = Backlog(waiting=3)
        task = PeriodicTask("draining", TICK, backlog.take_one, drain=True)
        task.start()
        await backlog.ran_at_least(4)
        assert backlog.waiting == 0
        await task.stop()

    async def test_work_committed_during_a_run_before_the_stop_is_taken_by_a_last_run(
        self,
    ) -> None:
        backlog = Backlog()
        backlog.go_on.clear()
        task = PeriodicTask("draining", TICK, backlog.take_one, drain=True)
        task.start()
        await backlog.ran_at_least(1)  # the first run saw nothing waiting...
        backlog.waiting = 2  # ...and work arrives while it is still running
        stopping = asyncio.create_task(task.stop())
        await asyncio.sleep(0)
        backlog.go_on.set()
        await stopping
        assert backlog.waiting == 0, "stop() left nothing behind"
        assert backlog.runs == 4, "the first run, two that found work, one that found none"
