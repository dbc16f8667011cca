"""What a transaction schedules with after_commit runs once it committed, never when it rolled
back: a metric counted in a handler the consumer runner retries counts the committed attempt."""

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import handlers
from services.scoring.config import ScoringSettings
from services.scoring.domain import ScoringModel
from services.scoring.models import infrastructure
from shared.db import after_commit, transaction
from shared.events import CloudEvent
from shared.outbox import Outbox
from tests.consumer_fixtures import ConsumerHarness, message_event
from tests.helpers import eventually

pytestmark = pytest.mark.integration


class Rollback(Exception):
    pass


@pytest.fixture
async def harness(settings_for: Callable[..., Any]) -> AsyncIterator[ConsumerHarness]:
    harness = ConsumerHarness(settings_for(ScoringSettings, consumer_max_attempts=2))
    await harness.start()
    yield harness
    await harness.stop()


class TestAfterCommit:
    async def test_a_callback_runs_once_after_its_transaction_committed(
        self, harness: ConsumerHarness
    ) -> None:
        calls: list[str] = []
        async with transaction(harness.sessionmaker) as session:
            after_commit(session, lambda: calls.append("counted"))
            await session.execute(text("SELECT 1"))
            assert calls == [], "not before the commit"
        assert calls == ["counted"]

    async def test_a_rolled_back_transaction_runs_none_of_its_callbacks(
        self, harness: ConsumerHarness
    ) -> None:
        calls: list[str] = []

        async def count_then_fail() -> None:
            async with transaction(harness.sessionmaker) as session:
                after_commit(session, lambda: calls.append("counted"))
                raise Rollback

        with pytest.raises(Rollback):
            await count_then_fail()
        assert calls == []

    async def test_a_failing_callback_does_not_undo_the_commit_for_its_caller(
        self, harness: ConsumerHarness
    ) -> None:
        calls: list[str] = []
        async with transaction(harness.sessionmaker) as session:
            after_commit(session, lambda: 1 / 0)
            after_commit(session, lambda: calls.append("still counted"))
        assert calls == ["still counted"]

    async def test_a_session_not_opened_by_transaction_is_refused(
        self, harness: ConsumerHarness
    ) -> None:
        async with harness.sessionmaker() as session:
            with pytest.raises(RuntimeError, match="transaction"):
                after_commit(session, lambda: None)


def profiles_created() -> float:
    return REGISTRY.get_sample_value("scrm_scoring_profiles_created_total") or 0.0


def outcome(harness: ConsumerHarness, name: str) -> float:
    labels = {"service": "scoring", "topic": harness.topic, "outcome": name}
    return REGISTRY.get_sample_value("scrm_consumer_events_total", labels) or 0.0


class TestProfilesCreatedIsCountedAfterTheCommit:
    def scoring_handler_failing(self, harness: ConsumerHarness, *, attempts: int) -> Any:
        """scoring's own handler, made to fail after it ran in its first `attempts` attempts."""
        model = ScoringModel.from_settings(harness.settings)
        score = handlers.registry(model, Outbox(harness.settings, infrastructure)).one_at_a_time()
        failures = 0

        async def score_then_fail(session: AsyncSession, event: CloudEvent[Any]) -> None:
            nonlocal failures
            await score(session, event)  # creates the profile and schedules the count
            if failures < attempts:
                failures += 1
                raise RuntimeError("failed after scoring")

        return score_then_fail

    async def test_a_retried_handler_counts_the_new_profile_once(
        self, harness: ConsumerHarness
    ) -> None:
        before = profiles_created()
        await harness.producer.publish(message_event(f"fan-{uuid.uuid4().hex[:8]}"))
        handler = self.scoring_handler_failing(harness, attempts=1)
        async with harness.running(harness.runner(handler)):
            await eventually(lambda: _async(outcome(harness, "handled") == 1))
        assert outcome(harness, "retried") == 1, "the first attempt rolled back"
        assert profiles_created() == before + 1

    async def test_a_handler_that_never_commits_counts_nothing(
        self, harness: ConsumerHarness
    ) -> None:
        before = profiles_created()
        await harness.producer.publish(message_event(f"fan-{uuid.uuid4().hex[:8]}"))
        handler = self.scoring_handler_failing(harness, attempts=2)
        async with harness.running(harness.runner(handler)):
            await eventually(lambda: _async(outcome(harness, "deadlettered") == 1))
        assert profiles_created() == before


async def _async(value: bool) -> bool:
    return value
