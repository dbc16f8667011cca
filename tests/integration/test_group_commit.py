"""The group commit claims, produces, answers and commits: an event repeated within one push, or
pushed again later, is produced once."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.ingest.config import IngestSettings
from services.ingest.group_commit import IDLE_SECONDS, GroupCommitter
from shared.contracts import FanEvent, FanFollowed
from shared.db import asyncpg_dsn
from shared.events import CloudEvent, event_id
from shared.kafka import EventProducer
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.integration


def followed(user: str) -> CloudEvent[FanEvent]:
    data: FanEvent = FanFollowed(
        platform="line", account="oa", user_id=user, occurred_at=datetime.now(UTC)
    )
    return CloudEvent.of(data, id=event_id("line", "oa", data.event_type, user),
                         source="scrm/ingest/line/oa", subject=data.fan_key)  # fmt: skip


@asynccontextmanager
async def committing(
    settings: IngestSettings, *, max_in_flight: int = 2
) -> AsyncIterator[GroupCommitter]:
    producer = EventProducer(settings)
    await producer.start()
    committer = GroupCommitter(
        database_url=settings.database_url.get_secret_value(), producer=producer,
        topics=settings, max_in_flight=max_in_flight,
    )  # fmt: skip
    await committer.start()
    try:
        yield committer
    finally:
        await committer.stop()
        await producer.stop()


async def test_an_event_twice_in_one_push_or_pushed_again_is_produced_once(
    settings_for: Callable[..., Any], infrastructure: Infrastructure
) -> None:
    settings: IngestSettings = settings_for(IngestSettings)
    twice, other = followed("u1"), followed("u2")
    async with committing(settings) as committer:
        assert await committer.submit("line", "oa", [twice, twice, other]) == {twice.id, other.id}
        assert await committer.submit("line", "oa", [twice]) == set()
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=3, within=3
    )
    assert sorted(dict(r.headers)["ce_id"].decode() for r in records) == sorted(
        [twice.id, other.id]
    )


async def test_a_batch_is_answered_once_kafka_has_it_and_a_copy_meanwhile_waits_for_the_claims(
    settings_for: Callable[..., Any], infrastructure: Infrastructure, database_url: str
) -> None:
    settings: IngestSettings = settings_for(IngestSettings)
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    # every COMMIT that kept a claim now takes two seconds more
    await admin.execute("""
        CREATE FUNCTION ingest.slow_commit() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON ingest.received_events
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ingest.slow_commit();
    """)  # fmt: skip
    await admin.close()
    event = followed("u-slow")
    async with committing(settings) as committer:  # two workers: the copy takes the other
        started = time.monotonic()
        assert await committer.submit("line", "oa", [event]) == {event.id}
        assert time.monotonic() - started < 1.5, "answered before the claims were committed"
        assert await committer.submit("line", "oa", [event]) == set()  # waited for them
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=2, within=3
    )
    assert [dict(r.headers)["ce_id"].decode() for r in records] == [event.id]


async def test_a_worker_begins_the_next_transaction_and_gives_it_up_when_idle(
    settings_for: Callable[..., Any], database_url: str
) -> None:
    settings: IngestSettings = settings_for(IngestSettings)
    observer = await asyncpg.connect(asyncpg_dsn(database_url))

    async def in_transaction() -> int:
        return int(await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction'"
        ))  # fmt: skip

    try:
        async with committing(settings, max_in_flight=1) as committer:
            event = followed("u-idle")
            assert await committer.submit("line", "oa", [event]) == {event.id}
            assert await eventually(in_transaction, within=0.5) == 1  # the next one, begun
            await asyncio.sleep(IDLE_SECONDS + 0.5)
            assert await in_transaction() == 0
            again = followed("u-idle-2")  # and it takes work again after
            assert await committer.submit("line", "oa", [again]) == {again.id}
    finally:
        await observer.close()
