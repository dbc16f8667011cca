"""The webhooks of ``make bench-routing``: signed fan messages (Standard Webhooks) offered to
ingest at a fixed rate, each from a fan of its own, so each opens a conversation in responder's
routing queue; when ingest answered each one 2xx, and when responder committed the conversation.

The queue's moment is the commit time of the transaction that stored the conversation's first
message (PostgreSQL's `pg_xact_commit_timestamp`, with `track_commit_timestamp` on): claims
see the conversation from then on. That message row is never updated, so its `xmin` stays the
transaction that opened the conversation, however the conversation changes after."""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from bench import loadgen
from bench.ingest import signed_webhook
from shared.events import fan_key

ACCOUNT = "bench-routing"
TEXTS = ("客服在吗 订单号发你了", "Is my parcel late?", "退货怎么办理", "Do you ship to Shenzhen?")
POLL_SECONDS = 0.5
PATIENCE = 60.0  # seconds without a new conversation before the rest count as lost
QUEUED = (
    "SELECT c.fan_key, pg_xact_commit_timestamp(m.xmin) AS queued"
    " FROM responder.conversation_messages m"
    " JOIN responder.conversations c ON c.id = m.conversation_id"
    " WHERE m.direction = 'in' AND c.account = $1"
)
QUEUED_COUNT = "SELECT count(*) FROM responder.conversations WHERE account = $1"


@dataclass(frozen=True)
class Webhook:
    fan_key: str
    request: bytes


@dataclass(frozen=True)
class Answer:
    fan_key: str
    status: int
    answered: float  # epoch seconds, when the answer had arrived
    behind_ms: float  # how long after its slot in the schedule it was sent


def signed(port: int, secret: str, count: int, *, wave: str) -> list[Webhook]:
    """`count` fan messages, one a fan, signed now (Standard Webhooks accepts a timestamp for
    minutes)."""
    webhooks = []
    now = datetime.now(UTC).isoformat()
    for n in range(count):
        user = f"{wave}-{n:06d}"
        payload = {"type": "message.received", "timestamp": now,
                   "data": {"message_id": f"{user}-{uuid.uuid4().hex[:8]}", "user_id": user,
                            "text": TEXTS[n % len(TEXTS)]}}  # fmt: skip
        webhooks.append(Webhook(fan_key("standard", ACCOUNT, user),
                                signed_webhook(port, secret, ACCOUNT, payload)))  # fmt: skip
    return webhooks


async def offer(
    port: int, webhooks: list[Webhook], *, rate: float, connections: int
) -> list[Answer]:
    """Send webhook n at n / rate seconds from now (an open loop: a slow answer does not delay
    the schedule while a connection is free), each connection one request at a time."""
    answers: list[Answer] = []
    cursor = iter(enumerate(webhooks))
    start = time.perf_counter() + 0.1

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n, webhook in cursor:
                slot = start + n / rate
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                behind_ms = (time.perf_counter() - slot) * 1000
                writer.write(webhook.request)
                status, _ = await loadgen.read_answer(reader)
                answers.append(Answer(webhook.fan_key, status, time.time(), behind_ms))
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return answers


async def queued(dsn: str, *, expected: int, alive: Callable[[], bool]) -> dict[str, float]:
    """When each bench fan's conversation was committed (epoch seconds), once `expected` are
    there, or none more came for PATIENCE seconds (the rest are lost), or responder stopped."""
    connection = await asyncpg.connect(dsn)
    try:
        await _wait_for(connection, expected, alive)
        rows = await connection.fetch(QUEUED, ACCOUNT)
    finally:
        await connection.close()
    if any(row["queued"] is None for row in rows):
        raise RuntimeError("no commit timestamps: PostgreSQL runs without track_commit_timestamp")
    return {row["fan_key"]: row["queued"].timestamp() for row in rows}


async def _wait_for(
    connection: asyncpg.Connection, expected: int, alive: Callable[[], bool]
) -> None:
    count, moved = -1, time.monotonic()
    while alive() and time.monotonic() - moved < PATIENCE:
        latest = await connection.fetchval(QUEUED_COUNT, ACCOUNT)
        if latest >= expected:
            return
        if latest != count:
            count, moved = latest, time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
