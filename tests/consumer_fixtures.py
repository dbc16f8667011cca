"""A small consumer set-up for testing the shared runner: its handler records each event it
applies in a table of the test's own database, so doubling or loss shows in a count."""

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from shared.consumer import ConsumerRunner, Handler
from shared.consumer_batch import BatchHandler, BatchRegistry
from shared.contracts import MessageReceived
from shared.db import create_engine, create_sessionmaker
from shared.events import CloudEvent
from shared.kafka import EventProducer
from shared.topics import EVENTS
from tests.helpers import topic_partitions

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS public.effects (event_id text NOT NULL, at timestamptz)"


async def record_effect(session: AsyncSession, event: CloudEvent[Any]) -> None:
    await session.execute(
        text("INSERT INTO public.effects (event_id, at) VALUES (:id, now())"), {"id": event.id}
    )


async def record_effects(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
    await session.execute(
        text(
            "INSERT INTO public.effects (event_id, at) SELECT unnest(CAST(:ids AS text[])), now()"
        ),
        {"ids": [event.id for event in events]},
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
        self.engine = create_engine(settings.database_url.get_secret_value(), pool_size=8)
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

    def batch_runner(self, handler: BatchHandler = record_effects) -> ConsumerRunner:
        registry = BatchRegistry(handler, frozenset({MessageReceived}))
        return ConsumerRunner(
            settings=self.settings, topics=[self.topic], handlers=registry,
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

    def outcome(self, outcome: str) -> float:
        """Records of this harness's topic the runners finished with `outcome` (a counter)."""
        labels = {"service": "scoring", "topic": self.topic, "outcome": outcome}
        return REGISTRY.get_sample_value("scrm_consumer_events_total", labels) or 0.0

    def batches(self) -> float:
        """Partition batches the runners took from their fetches (the batch size histogram)."""
        labels = {"service": "scoring", "topic": self.topic}
        return REGISTRY.get_sample_value("scrm_consumer_batch_size_count", labels) or 0.0

    async def committed_offsets(self) -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.consumer_group, enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, self.topic)
            return {p: await consumer.committed(TopicPartition(self.topic, p)) for p in partitions}
        finally:
            await consumer.stop()
