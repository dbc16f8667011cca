"""The producer every service publishes through: ``acks=all``, idempotent where the broker can."""

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from shared.contracts import topic_of
from shared.events import CloudEvent, KafkaRecord, encode
from shared.settings import KafkaSettings


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge in time; the caller must not report success."""


class EventProducer:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=settings.kafka_idempotence,
            linger_ms=2,
            request_timeout_ms=int(settings.produce_timeout_seconds * 1000),
            retry_backoff_ms=100,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()  # flushes what is buffered

    async def publish(self, event: CloudEvent[Any], *, topic: str | None = None) -> RecordMetadata:
        """Publish to the event type's topic (with the deployment prefix) and await the ack."""
        name = topic or self._settings.topic(topic_of(event.data))
        return await self.send(name, encode(event))

    async def send(self, topic: str, record: KafkaRecord) -> RecordMetadata:
        try:
            return await asyncio.wait_for(
                self._producer.send_and_wait(
                    topic, record.value, key=record.key, headers=record.headers
                ),
                timeout=self._settings.produce_timeout_seconds,
            )
        except Exception as exc:
            raise BrokerUnavailable(f"{topic}: {exc!r}") from exc

    async def send_many(self, records: list[tuple[str, KafkaRecord]]) -> None:
        """Send a batch and wait for every ack; order per partition is kept."""
        futures = [
            await self._producer.send(topic, r.value, key=r.key, headers=r.headers)
            for topic, r in records
        ]
        try:
            await asyncio.wait_for(
                asyncio.gather(*futures), timeout=self._settings.produce_timeout_seconds
            )
        except Exception as exc:
            raise BrokerUnavailable(repr(exc)) from exc

    async def check(self) -> None:
        """Raise unless the broker answers a metadata request now."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
