"""A record dead-lettered after a database error keeps the error's class and the driver's message
in its ``dlq_error`` header and in the log, never the SQL statement nor its parameters (a fan's
ids, an order's amount)."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.config import ScoringSettings
from shared.events import CloudEvent
from shared.logging import configure_logging
from shared.topics import DEADLETTER
from tests.conftest import Infrastructure
from tests.consumer_fixtures import ConsumerHarness, message_event
from tests.helpers import header, read_topic

pytestmark = pytest.mark.integration
SECRET_USER = "fan-secret-7731"
HUGE = 2**63


async def store_a_nul(session: AsyncSession, event: CloudEvent[Any]) -> None:
    """PostgreSQL refuses NUL in text: the server's error."""
    statement = text("INSERT INTO public.effects (event_id, at) VALUES (:id, now())")
    await session.execute(statement, {"id": f"{SECRET_USER}\x00"})


async def store_a_huge_amount(session: AsyncSession, event: CloudEvent[Any]) -> None:
    """asyncpg cannot encode the value as int8: the driver's error names the argument."""
    await session.execute(text("SELECT CAST(:amount AS bigint), :user"),
                          {"amount": HUGE, "user": SECRET_USER})  # fmt: skip


@pytest.fixture
async def harness(settings_for: Callable[..., Any]) -> AsyncIterator[ConsumerHarness]:
    harness = ConsumerHarness(settings_for(ScoringSettings, consumer_max_attempts=2))
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[dict[str, Any]]]:
    """The log lines written so far, as event dicts (logging as the services configure it)."""
    configure_logging(service="test", level="INFO", json=True)
    return lambda: [r.msg for r in caplog.records if isinstance(r.msg, dict)]


@pytest.mark.parametrize(
    ("handler", "driver_message"),
    [
        (store_a_nul, 'invalid byte sequence for encoding "UTF8": 0x00'),
        (store_a_huge_amount, "invalid input for query argument $1"),
    ],
    ids=["server-error", "driver-error"],
)
async def test_the_dead_letter_header_and_log_carry_no_sql_nor_parameters(
    harness: ConsumerHarness, infrastructure: Infrastructure,
    handler: Callable[[AsyncSession, CloudEvent[Any]], Any], driver_message: str,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:  # fmt: skip
    await harness.producer.publish(message_event("fan1"))
    async with harness.running(harness.runner(handler)):
        dead = await read_topic(
            infrastructure.bootstrap_servers, harness.settings.topic(DEADLETTER), expect=1
        )
    logs = log_lines()
    error = header(dead[0], "dlq_error") or ""
    assert error.startswith("sqlalchemy.exc.DBAPIError: "), error
    assert driver_message in error
    [logged] = [entry for entry in logs if entry["event"] == "event dead-lettered"]
    assert logged["error"] == error
    for said in (error, *(str(entry) for entry in logs)):
        assert SECRET_USER not in said
        assert str(HUGE) not in said
        assert "[SQL:" not in said
        assert "INSERT INTO" not in said
