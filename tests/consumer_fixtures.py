"""A small consumer set-up for testing the shared runner: its handler records each event it
applies in a table of the test's own database, so doubling or loss shows in a count."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from shared.consumer import ConsumerRunner, Handler
from shared.contracts import MessageReceived
from shared.db import create_engine, create_sessionmaker
from shared.events import CloudEvent
from shared.kafka import EventProducer
from shared.topics import EVENTS

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS public.effects (event_id text NOT NULL, at timestamptz)"


async def record_effect(session: AsyncSession, event: CloudEvent[Any]) -> None:
    await session.execute(
        text("INSERT INTO public.effects (event_id, at) VALUES (:id, now())"), {"id": event.id}
    )


def message_event(user: str, message_id: str | None = None) -> CloudEvent[MessageReceived]:
    data = MessageReceived(
        platform="telegram", account="bot1", user_id=user, occurred_at=datetime.now(UTC),
        message_id=message_id or uuid.uuid4().hex, text="hi",
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


class ConsumerHarness:
    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.producer = EventProducer(settings)
        self.topic = settings.topic(EVENTS)

    async def start(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(EFFECTS_DDL))
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()
        await self.engine.dispose()

    def runner(self, handler: Handler = record_effect) -> ConsumerRunner:
        return ConsumerRunner(
            settings=self.settings, topics=[self.topic], handlers={MessageReceived: handler},
            sessionmaker=self.sessionmaker, tables=infrastructure, producer=self.producer,
        )  # fmt: skip

    @asynccontextmanager
    async def running(self, runner: ConsumerRunner) -> AsyncIterator[ConsumerRunner]:
        await runner.start()
        try:
            yield runner
        finally:
            await runner.stop()

    async def effects(self, event_id: str | None = None) -> int:
        query = "SELECT count(*) FROM public.effects"
        params: dict[str, str] = {}
        if event_id is not None:
            query += " WHERE event_id = :id"
            params["id"] = event_id
        async with self.engine.connect() as connection:
            return int((await connection.execute(text(query), params)).scalar_one())
