"""The consumer runner in batch mode, against a real broker and a real PostgreSQL: one transaction
per fetched batch and group of partitions, the batch's ids claimed in one statement, the same
guarantees as one event at a time."""

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.config import ScoringSettings
from shared.contracts import ReactionAdded
from shared.db import after_commit
from shared.events import CloudEvent
from shared.topics import DEADLETTER
from tests.conftest import Infrastructure
from tests.consumer_fixtures import ConsumerHarness, message_event, record_effects
from tests.helpers import eventually, header, read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

# Each INSERT statement into scoring's processed_events leaves one row here: how many ids it
# claimed. A statement-level trigger sees the statement, not the rows.
COUNT_CLAIM_STATEMENTS = (
    "CREATE TABLE public.claim_statements (claimed integer NOT NULL)",
    """CREATE FUNCTION public.count_claim_statement() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           INSERT INTO public.claim_statements SELECT count(*) FROM claimed;
           RETURN NULL;
       END $$""",
    """CREATE TRIGGER count_claim_statements AFTER INSERT ON scoring.processed_events
       REFERENCING NEW TABLE AS claimed FOR EACH STATEMENT
       EXECUTE FUNCTION public.count_claim_statement()""",
)


@pytest.fixture
async def harness(settings_for: Callable[..., Any]) -> AsyncIterator[ConsumerHarness]:
    harness = ConsumerHarness(settings_for(ScoringSettings, consumer_max_attempts=3))
    await harness.start()
    async with harness.engine.begin() as connection:
        for statement in COUNT_CLAIM_STATEMENTS:
            await connection.execute(text(statement))
    yield harness
    await harness.stop()


async def claim_statements(harness: ConsumerHarness) -> list[int]:
    async with harness.engine.connect() as connection:
        rows = await connection.execute(text("SELECT claimed FROM public.claim_statements"))
        return [row.claimed for row in rows]


async def publish(harness: ConsumerHarness, events: Sequence[CloudEvent[Any]]) -> None:
    for event in events:
        await harness.producer.publish(event)


class TestOneTransactionPerBatch:
    async def test_repeated_and_redelivered_ids_are_applied_once_and_claimed_in_one_statement(
        self, harness: ConsumerHarness
    ) -> None:
        earlier = [message_event("fan1") for _ in range(2)]
        await publish(harness, earlier)
        async with harness.running(harness.batch_runner()):
            await eventually(lambda: _equals(harness.effects(), 2))
        batches_before, statements_before = harness.batches(), len(await claim_statements(harness))

        new = [message_event("fan1") for _ in range(3)]
        # the same fan throughout: one partition, in this order, fetched together
        await publish(harness, [new[0], earlier[0], new[1], new[0], earlier[1], new[2]])
        async with harness.running(harness.batch_runner()):
            await eventually(lambda: _async(harness.outcome("duplicate") == 3))

        for event in [*earlier, *new]:
            assert await harness.effects(event.id) == 1
        assert harness.outcome("handled") == 5
        statements = (await claim_statements(harness))[statements_before:]
        assert len(statements) == harness.batches() - batches_before, "one statement per batch"
        assert sum(statements) == 3
        assert max(statements) > 1, "the ids of a batch are claimed together"

    async def test_a_fetch_of_few_records_is_applied_in_one_transaction_whatever_its_partitions(
        self, harness: ConsumerHarness
    ) -> None:
        events = [message_event(f"fan{n}") for n in range(30)]  # keys over all 3 partitions
        await publish(harness, events)
        async with harness.running(harness.batch_runner()):
            await eventually(lambda: _equals(harness.effects(), 30))
        offsets = await harness.committed_offsets()
        assert len(offsets) == 3
        assert all(offsets.values()), "every partition had some"
        assert sum(offset or 0 for offset in offsets.values()) == 30
        statements = await claim_statements(harness)
        assert len(statements) == harness.batches() < len(offsets), "partitions applied together"
        assert sum(statements) == 30

    async def test_events_of_types_it_does_not_handle_are_ignored_and_their_offsets_move(
        self, harness: ConsumerHarness
    ) -> None:
        message = message_event("fan1")
        data = ReactionAdded(
            platform="telegram", account="bot1", user_id="fan1", occurred_at=datetime.now(UTC),
            target_id="post-1", reaction="like",
        )  # fmt: skip
        reaction = CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)
        await publish(harness, [reaction, message])
        async with harness.running(harness.batch_runner()):
            await eventually(lambda: _equals(harness.effects(message.id), 1))
        assert harness.outcome("ignored") == 1
        assert sum(offset or 0 for offset in (await harness.committed_offsets()).values()) == 2

    async def test_after_commit_callbacks_run_once_per_committed_batch(
        self, harness: ConsumerHarness
    ) -> None:
        committed: list[int] = []

        async def record_and_count(
            session: AsyncSession, events: Sequence[CloudEvent[Any]]
        ) -> None:
            await record_effects(session, events)
            after_commit(session, lambda: committed.append(len(events)))

        await publish(harness, [message_event("fan1") for _ in range(10)])
        async with harness.running(harness.batch_runner(record_and_count)):
            await eventually(lambda: _equals(harness.effects(), 10))
        assert sum(committed) == 10
        assert len(committed) == harness.batches() < 10


class TestPoisonEventInABatch:
    async def test_it_alone_is_dead_lettered_and_the_rest_of_its_batch_is_applied(
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        good = [message_event("fan1", message_id=f"good-{i}") for i in range(2)]
        poison = message_event("fan1", message_id="poison")
        committed: list[int] = []

        async def refuse_poison(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
            await record_effects(session, events)
            after_commit(session, lambda: committed.append(len(events)))
            if any(event.data.message_id == "poison" for event in events):
                raise RuntimeError("cannot score this")

        await publish(harness, [good[0], poison, good[1]])
        async with harness.running(harness.batch_runner(refuse_poison)):
            await eventually(lambda: _async(harness.outcome("deadlettered") == 1))
        dead = await read_topic(
            infrastructure.bootstrap_servers, harness.settings.topic(DEADLETTER), expect=2, within=3
        )
        assert [header(record, "ce_id") for record in dead] == [poison.id]
        assert header(dead[0], "dlq_attempts") == "3"
        assert [await harness.effects(event.id) for event in good] == [1, 1]
        assert await harness.effects(poison.id) == 0
        assert committed == [1, 1], "the failed batch committed nothing, each good event alone"


class TestCrashBetweenDbCommitAndOffsetCommit:
    async def test_a_batch_committed_before_the_crash_is_redelivered_and_not_applied_twice(
        self, harness: ConsumerHarness
    ) -> None:
        events = [message_event("fan1") for _ in range(5)]
        await publish(harness, events)
        settings = harness.settings
        crashed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tests.crashing_consumer", settings.kafka_bootstrap_servers,
             settings.database_url.get_secret_value(), settings.topic_prefix,
             str(settings.kafka_idempotence).lower(), "batch"],
            cwd=ROOT, capture_output=True, timeout=90, check=False,
        )  # fmt: skip
        assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
        applied_before_the_kill = await harness.effects()
        assert applied_before_the_kill >= 1, "the batch's transaction committed before the kill"
        assert set((await harness.committed_offsets()).values()) <= {None, 0}, "no offset moved"

        async with harness.running(harness.batch_runner()):
            await eventually(lambda: _equals(harness.effects(), 5))
            await eventually(lambda: _async(harness.outcome("duplicate") > 0))
        assert harness.outcome("duplicate") == applied_before_the_kill
        for event in events:
            assert await harness.effects(event.id) == 1


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)


async def _async(value: bool) -> bool:
    return value
