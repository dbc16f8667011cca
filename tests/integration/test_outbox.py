"""The transactional outbox: an event is published if and only if its transaction commits."""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from shared.contracts import ProfileUpdated
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent, decode
from shared.kafka import EventProducer
from shared.metrics import OUTBOX_PENDING
from shared.outbox import Outbox, OutboxRelay
from shared.topics import PROFILES
from tests.conftest import Infrastructure
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.integration
TABLES = infrastructure  # scoring's; the tests' `infrastructure` argument is the broker's


class Rollback(Exception):
    pass


def profile_event(fan: str) -> CloudEvent[ProfileUpdated]:
    now = datetime.now(UTC)
    data = ProfileUpdated(fan_key=fan, interaction_count=1, first_seen_at=now, last_seen_at=now)
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=fan)


@pytest.fixture
async def parts(settings_for: Callable[..., Any]) -> AsyncIterator[tuple[Any, ...]]:
    settings: ScoringSettings = settings_for(ScoringSettings)
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    producer = EventProducer(settings)
    await producer.start()
    relay = OutboxRelay(
        settings=settings, sessionmaker=sessionmaker, tables=infrastructure, producer=producer
    )
    yield settings, sessionmaker, relay, Outbox(settings, infrastructure)
    await producer.stop()
    await engine.dispose()


async def rows(sessionmaker: Any) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(infrastructure.outbox))
    return int(count)


class TestOutbox:
    async def test_an_event_written_in_a_rolled_back_transaction_is_never_published(
        self, parts: tuple[Any, ...], infrastructure: Infrastructure
    ) -> None:
        _, sessionmaker, relay, outbox = parts

        async def write_then_fail() -> None:
            async with sessionmaker() as session, session.begin():
                await outbox.add(session, profile_event("wechat:gh:rolled-back"))
                raise Rollback

        with pytest.raises(Rollback):
            await write_then_fail()
        assert await rows(sessionmaker) == 0
        assert await relay.relay_once() == 0

    async def test_a_committed_event_is_published_in_order_and_its_row_removed(
        self, parts: tuple[Any, ...], infrastructure: Infrastructure
    ) -> None:
        settings, sessionmaker, relay, outbox = parts
        events = [profile_event("line:acct:fan") for _ in range(3)]
        async with sessionmaker() as session, session.begin():
            for event in events:
                await outbox.add(session, event)
        assert await rows(sessionmaker) == 3
        assert await relay.relay_once() == 3
        assert await rows(sessionmaker) == 0
        published = await read_topic(
            infrastructure.bootstrap_servers, settings.topic(PROFILES), expect=3
        )
        assert [decode(r.headers, r.value).id for r in published] == [e.id for e in events]

    async def test_the_relay_running_in_the_background_drains_and_stops(
        self, parts: tuple[Any, ...], infrastructure: Infrastructure
    ) -> None:
        _, sessionmaker, relay, outbox = parts
        relay.start()
        async with sessionmaker() as session, session.begin():
            await outbox.add(session, profile_event("x:acct:fan"))
        await relay.stop()
        assert await rows(sessionmaker) == 0

    async def test_the_backlog_is_counted_and_reads_zero_once_relayed(
        self, parts: tuple[Any, ...], infrastructure: Infrastructure
    ) -> None:
        settings, sessionmaker, relay, outbox = parts
        async with sessionmaker() as session, session.begin():
            for n in range(3):
                await outbox.add(session, profile_event(f"x:acct:fan{n}"))
        assert await relay.pending() == 3
        OUTBOX_PENDING.labels(settings.service_name).set(3)  # as another pass may have left it
        relay.start()
        try:
            await eventually(lambda: _empty(sessionmaker))
            await eventually(lambda: _pending_gauge_is(settings.service_name, 0))
        finally:
            await relay.stop()


class TestRelayNudgedOnCommit:
    async def test_a_commit_relays_at_once_not_at_the_next_poll(
        self, settings_for: Callable[..., Any], infrastructure: Infrastructure
    ) -> None:
        settings: ScoringSettings = settings_for(ScoringSettings, outbox_poll_seconds=600)
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
        sessionmaker = create_sessionmaker(engine)
        producer = EventProducer(settings)
        await producer.start()
        relay = OutboxRelay(
            settings=settings, sessionmaker=sessionmaker, tables=TABLES, producer=producer
        )
        outbox = Outbox(settings, TABLES)
        outbox.on_commit = relay.nudge
        relay.start()
        try:
            await eventually(lambda: _empty(sessionmaker))  # its first pass is done
            async with transaction(sessionmaker) as session:
                await outbox.add(session, profile_event("x:acct:nudged"))
            # Ten minutes to the next poll: only the nudge relays it within the wait.
            await eventually(lambda: _empty(sessionmaker), within=10)
            records = await read_topic(
                infrastructure.bootstrap_servers, settings.topic(PROFILES), expect=1
            )
            assert len(records) == 1
        finally:
            await relay.stop()
            await producer.stop()
            await engine.dispose()


async def _pending_gauge_is(service: str, value: float) -> bool:
    return REGISTRY.get_sample_value("scrm_outbox_pending", {"service": service}) == value


async def _empty(sessionmaker: Any) -> bool:
    return await rows(sessionmaker) == 0
