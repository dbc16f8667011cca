"""Telling an outage from a poison event: the shape of the failure names a suspect, a probe of it
decides, and an outage is waited out (not ready meanwhile) instead of counted."""

import asyncio

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.consumer_outage import (
    ConsumerStopping,
    OutageWatch,
    PostgresUnreachable,
    suspected_part,
)
from shared.kafka import BrokerUnavailable


def raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as raised:
        return raised


class TestSuspectedPart:
    @pytest.mark.parametrize(
        "error",
        [
            ConnectionRefusedError(111, "Connect call failed"),
            ConnectionResetError(),
            TimeoutError(),
            asyncpg.ConnectionDoesNotExistError("connection was closed"),
            asyncpg.CannotConnectNowError("the database system is starting up"),
            asyncpg.AdminShutdownError("terminating connection due to administrator command"),
            DBAPIError("SELECT 1", {}, Exception("closed"), connection_invalidated=True),
            raised_from(RuntimeError("handler gave up"), ConnectionResetError()),
        ],
    )
    def test_a_lost_database_connection_points_at_postgres(self, error: BaseException) -> None:
        assert suspected_part(error) == "postgres"

    def test_a_dead_letter_the_broker_did_not_take_points_at_kafka(self) -> None:
        error = raised_from(BrokerUnavailable("scrm.deadletter.v1: timeout"), TimeoutError())
        assert suspected_part(error) == "kafka"

    @pytest.mark.parametrize(
        "error",
        [
            RuntimeError("cannot score this"),
            KeyError("fan"),
            IntegrityError("INSERT …", {}, Exception("duplicate key")),
        ],
    )
    def test_a_failure_of_the_event_itself_points_at_nothing(self, error: BaseException) -> None:
        assert suspected_part(error) is None


class Probe:
    """A probe that fails `failures` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError(111, "Connect call failed")


def watch(probe: Probe, stopping: asyncio.Event | None = None) -> OutageWatch:
    return OutageWatch(
        {"postgres": probe, "kafka": probe},
        service="test",
        first_delay=0.01,
        stopping=stopping or asyncio.Event(),
    )


class TestOutageWatch:
    async def test_a_lost_connection_while_the_database_answers_is_not_an_outage(self) -> None:
        assert await watch(Probe(failures=0)).part_down(ConnectionResetError()) is None

    async def test_a_failure_of_the_event_is_not_probed(self) -> None:
        probe = Probe(failures=1)
        assert await watch(probe).part_down(RuntimeError("cannot score this")) is None
        assert probe.calls == 0

    async def test_an_outage_is_waited_out_and_the_consumer_is_not_ready_meanwhile(self) -> None:
        probe = Probe(failures=3)
        outage = watch(probe)
        assert await outage.part_down(ConnectionRefusedError()) == "postgres"
        waiting = asyncio.create_task(outage.wait_until_back("postgres"))
        await asyncio.sleep(0)
        assert isinstance(outage.outage, PostgresUnreachable)
        await waiting
        assert probe.calls == 4, "it probed until the database answered"
        assert outage.outage is None

    async def test_stopping_ends_the_wait(self) -> None:
        stopping = asyncio.Event()
        outage = watch(Probe(failures=1_000), stopping)
        waiting = asyncio.create_task(outage.wait_until_back("kafka"))
        await asyncio.sleep(0.05)
        stopping.set()
        with pytest.raises(ConsumerStopping):
            await waiting
        assert outage.outage is None
