"""Dead letters re-injected once their cause is fixed (`python -m shared.deadletters`), against a
real broker and a real PostgreSQL."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.config import ScoringSettings
from shared.deadletters import Selection, replay
from shared.events import CloudEvent
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.consumer_fixtures import ConsumerHarness, message_event
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def harness(settings_for: Callable[..., Any]) -> AsyncIterator[ConsumerHarness]:
    harness = ConsumerHarness(settings_for(ScoringSettings, consumer_max_attempts=2))
    await harness.start()
    yield harness
    await harness.stop()


async def refuse_everything(session: AsyncSession, event: CloudEvent[Any]) -> None:
    raise RuntimeError("scoring is broken today")


async def dead_letter_twice(harness: ConsumerHarness, event: CloudEvent[Any]) -> None:
    """`event` delivered twice (a platform retry) while the handler is broken: two dead letters."""
    await harness.producer.publish(event)
    await harness.producer.publish(event)
    async with harness.running(harness.runner(refuse_everything)):
        await eventually(lambda: _async(harness.outcome("deadlettered") == 2))


def command(harness: ConsumerHarness, *args: str) -> str:
    """`python -m shared.deadletters …` as an operator runs it, configured by SCRM_* variables."""
    settings = harness.settings
    env = {**os.environ, "SCRM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "SCRM_TOPIC_PREFIX": settings.topic_prefix,
           "SCRM_KAFKA_IDEMPOTENCE": str(settings.kafka_idempotence).lower()}  # fmt: skip
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "shared.deadletters", *args],
        cwd=ROOT, env=env, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.decode()


class TestReplay:
    async def test_a_dead_lettered_event_is_applied_once_after_its_handler_is_fixed(
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        event = message_event("fan1")
        await dead_letter_twice(harness, event)
        selection = Selection(topic=EVENTS, group="scrm-scoring")  # the names without the prefix
        said: list[str] = []

        async with harness.running(harness.runner()):  # the handler, fixed
            replayed = await replay(harness.settings, selection, say=said.append)
            await eventually(lambda: _equals(harness.effects(event.id), 1))
            assert [letter.event_id for letter in replayed] == [event.id], "once per run"
            assert said[0].startswith("replayed ")
            assert event.id in said[0]

            again = await replay(harness.settings, selection)  # the same event again: harmless
            assert len(again) == 1
            await eventually(lambda: _async(harness.outcome("duplicate") == 1))
        assert await harness.effects(event.id) == 1
        assert harness.outcome("handled") == 1

    async def test_a_dry_run_only_says_what_it_would_replay(
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        event = message_event("fan1")
        await dead_letter_twice(harness, event)
        said: list[str] = []
        would = await replay(harness.settings, Selection(), dry_run=True, say=said.append)
        assert [letter.event_id for letter in would] == [event.id]
        assert said[0].startswith("would replay ")
        events = await read_topic(infrastructure.bootstrap_servers, harness.topic, expect=3,
                                  within=2)  # fmt: skip
        assert len(events) == 2, "nothing was produced"

    async def test_the_filters_leave_out_other_groups_topics_and_older_dead_letters(
        self, harness: ConsumerHarness
    ) -> None:
        await dead_letter_twice(harness, message_event("fan1"))
        settings = harness.settings
        later = datetime.now(UTC) + timedelta(hours=1)
        for selection in [Selection(group="scrm-responder"), Selection(topic="scrm.sla.v1"),
                          Selection(since=later)]:  # fmt: skip
            assert await replay(settings, selection, dry_run=True, say=lambda _: None) == []

    async def test_the_command_lists_them_and_replays_them(
        self, harness: ConsumerHarness, infrastructure: Infrastructure
    ) -> None:
        event = message_event("fan1")
        await dead_letter_twice(harness, event)

        listed = await asyncio.to_thread(command, harness, "list", "--group", "scrm-scoring")
        assert listed.count(event.id) == 2
        assert "scoring is broken today" in listed
        assert listed.splitlines()[-1] == "2 dead letters, 1 events"

        replayed = await asyncio.to_thread(command, harness, "replay", "--topic", EVENTS)
        assert replayed.splitlines()[-1] == "replayed 1 events"
        records = await read_topic(infrastructure.bootstrap_servers, harness.topic, expect=3)
        assert len(records) == 3
        headers = dict(records[-1].headers)
        assert headers["ce_id"] == event.id.encode()
        assert not any(name.startswith("dlq_") for name in headers), "the dlq_ headers are off"


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)


async def _async(value: bool) -> bool:
    return value
