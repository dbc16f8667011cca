"""Helpers the tests share: waiting with a deadline, running an app, reading a topic, signing."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from services.ingest.platforms.standard import standard_webhook_signature
from shared.events import decode
from shared.http_server import server_config
from shared.settings import BaseServiceSettings
from shared.topics import EVENTS, INGEST_REJECTED

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (consumers, relay, producer) running, and an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@asynccontextmanager
async def serving(app: FastAPI, settings: BaseServiceSettings) -> AsyncIterator[int]:
    """`app` served as in production (`shared.http_server.server_config`: uvicorn with the
    limits at the door) on the settings' port, with its whole lifespan; yields the port. For
    what only a socket shows: what is read when, what stays open."""
    server = uvicorn.Server(server_config(app, settings))
    task = asyncio.create_task(server.serve())

    async def started_or_ended() -> bool:
        return server.started or task.done()

    try:
        await eventually(started_or_ended, within=60)
        assert server.started, "the server did not start"
        yield settings.http_port
    finally:
        server.should_exit = True
        await task


async def read_topic(
    bootstrap_servers: str, topic: str, *, expect: int, within: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning until `expect` records arrived (or the deadline passed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partitions = await eventually(lambda: topic_partitions(consumer, topic))
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        deadline = time.monotonic() + within
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def produced_events(
    bootstrap_servers: str, settings: BaseServiceSettings, expect: int
) -> list[Any]:
    """The data of what reached the events topic: waits for one more than `expect`, to see
    there is none."""
    records = await read_topic(
        bootstrap_servers, settings.topic(EVENTS), expect=expect + 1, within=3
    )
    return [decode(r.headers, r.value).data for r in records]


async def recorded_refusals(
    bootstrap_servers: str, settings: BaseServiceSettings, expect: int
) -> list[Any]:
    """The data of the refusals on the rejected topic, once `expect` of them are there."""
    records = await read_topic(bootstrap_servers, settings.topic(INGEST_REJECTED), expect=expect)
    return [decode(r.headers, r.value).data for r in records]


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def metric_value(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """The sum of a metric's samples matching `labels`, read from the app's /metrics."""
    text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def signed_webhook(
    payload: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None,
    msg_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return body, {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": standard_webhook_signature(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


def message_payload(user_id: str, message_id: str, text: str = "hello") -> dict[str, Any]:
    return {
        "type": "message.received",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"message_id": message_id, "user_id": user_id, "text": text},
    }


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode()
    return None
