"""Open conversations written straight into responder's database, as responder itself writes a
fan's first message (its conversation with its place in the routing queue, the message, and the
first-reply clock that `sla.conversation.fan_message` starts, stored by `clocks.clock_values`):
a hundred thousand in seconds (a minute or more through Kafka), their deadlines exactly where
the bench wants them. Responder finds their deadlines as it finds any
other replica's: by reading the timers due within its horizon from the database (at start-up,
then every scan)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.sla_load import ACCOUNTS, FIRST_REPLY, TEXTS
from services.responder import clocks
from services.responder.sla import conversation as sla
from services.responder.sla.policy import DEFAULT_POLICIES
from shared.events import fan_key

TERMS = clocks.terms_of(DEFAULT_POLICIES.policies[-1])
CHUNK = 10_000
Row = tuple[Any, ...]
Rows = tuple[list[Row], list[Row], list[dict[str, Any]]]
CONVERSATION_COLUMNS = (
    "id", "fan_key", "platform", "account", "thread_key", "status", "opened_at",
    "last_inbound_at", "unanswered_count", "answered", "awaiting_since", "queue_due",
)  # fmt: skip
MESSAGE_COLUMNS = ("id", "conversation_id", "direction", "ref", "at", "message_type", "text")


async def seed(dsn: str, wave: str, deadlines: list[float]) -> None:
    """A conversation a deadline, from a fan of its own in `wave`."""
    connection = await asyncpg.connect(dsn)
    try:
        for conversations, messages, clock_rows in _chunks(wave, deadlines):
            async with connection.transaction():
                await _copy(connection, "conversations", CONVERSATION_COLUMNS, conversations)
                await _copy(connection, "conversation_messages", MESSAGE_COLUMNS, messages)
                columns = tuple(clock_rows[0])  # as clocks.clock_values names them
                await _copy(connection, "sla_clocks", columns,
                            [tuple(row.values()) for row in clock_rows])  # fmt: skip
    finally:
        await connection.close()


async def _copy(
    connection: asyncpg.Connection, table: str, columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:  # fmt: skip
    await connection.copy_records_to_table(table, records=rows, columns=list(columns),
                                           schema_name="responder")  # fmt: skip


def _chunks(wave: str, deadlines: list[float]) -> Iterator[Rows]:
    for first in range(0, len(deadlines), CHUNK):
        rows: Rows = ([], [], [])
        for n in range(first, min(first + CHUNK, len(deadlines))):
            conversation, message, clock = opened(wave, n, deadlines[n])
            rows[0].append(conversation)
            rows[1].append(message)
            rows[2].append(clock)
        yield rows


def opened(wave: str, n: int, deadline: float) -> tuple[Row, Row, dict[str, Any]]:
    """The rows of fan `n`'s conversation, opened by a message whose deadline is `deadline`."""
    account = n % ACCOUNTS
    platform, account_id = ("weibo", "wechat")[account % 2], f"brand-{account:02d}"
    at = datetime.fromtimestamp(deadline, UTC) - FIRST_REPLY
    after, _ = sla.fan_message(None, at, TERMS, lambda: str(uuid.uuid4()))
    conversation_id = uuid.uuid4()
    conversation = (
        conversation_id, fan_key(platform, account_id, f"{wave}-{n:06d}"), platform, account_id,
        "", after.status, at, at, 1, after.answered, after.awaiting_since,
        clocks.queue_due(after, 0, timedelta(0)),  # a fan of priority 0: the deadline
    )  # fmt: skip
    message = (uuid.uuid4(), conversation_id, "in", str(uuid.uuid4()), at, "text",
               TEXTS[n % len(TEXTS)])  # fmt: skip
    (clock,) = after.clocks  # the default policy has no resolution target: one clock
    return conversation, message, clocks.clock_values(clock, conversation_id)
