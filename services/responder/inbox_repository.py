"""The SQL of fans' messages taken a fetched batch at a time (`inbox`): one statement for each
kind of row, whatever the batch's size."""

import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import Table, Text, Uuid, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder.models import Conversation, ConversationMessage, FanStanding, SlaClock
from shared.contracts import FanEvent
from shared.sql_arrays import any_of, column_arrays, insert_arrays

Key = tuple[str, str]  # a conversation's fan key and thread key
FAN_LOCKS = 0x5C0_0011  # advisory locks (class, hash of a fan key): a fan's messages vs standing
CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, ConversationMessage.__table__)

_MADE_COLUMNS = (
    "id", "fan_key", "platform", "account", "thread_key", "status", "opened_at",
    "last_inbound_at", "unanswered_count", "priority",
)  # fmt: skip
_MESSAGE_COLUMNS = (
    "id", "conversation_id", "direction", "ref", "at", "message_type", "text", "agent_id",
    "delivery", "delivery_error",
)  # fmt: skip
_MAKE = (
    insert_arrays(CONVERSATIONS, _MADE_COLUMNS)
    .on_conflict_do_nothing(index_elements=["fan_key", "thread_key"])
    .returning(CONVERSATIONS.c.fan_key, CONVERSATIONS.c.thread_key)
)
_KEEP_MESSAGES = insert_arrays(MESSAGES, _MESSAGE_COLUMNS).on_conflict_do_nothing(
    index_elements=["direction", "ref"]
)
_KEYS = (
    func.unnest(bindparam("fans", type_=ARRAY(Text)), bindparam("threads", type_=ARRAY(Text)))
    .table_valued("fan_key", "thread_key")
    .render_derived()
)


async def lock_fans(session: AsyncSession, fan_keys: Collection[str]) -> None:
    """Take each fan's advisory lock for the transaction, in one order for every taker: a fan's
    new conversation and scoring's new word on the fan are then written one after the other,
    each seeing the other (a conversation made meanwhile would miss the fan's priority, or the
    standing would miss the new conversation)."""
    keys = select(func.hashtext(func.unnest(bindparam("fans", type_=ARRAY(Text)))).label("k"))
    locking = keys.subquery()
    await session.execute(
        select(func.pg_advisory_xact_lock(FAN_LOCKS, locking.c.k)).order_by(locking.c.k),
        {"fans": sorted(set(fan_keys))},
    )


async def lock_conversations(
    session: AsyncSession, first_of: dict[Key, FanEvent]
) -> tuple[dict[Key, Conversation], set[Key]]:
    """The conversations of these keys, locked (in the order of their ids, as every other
    locker takes them), made from the key's first event where there was none; and the keys
    made."""
    keys = sorted(first_of)
    made_rows = [_new_conversation(key, first_of[key]) for key in keys]
    made = await session.execute(_MAKE, column_arrays(CONVERSATIONS, _MADE_COLUMNS, made_rows))
    new = {(row.fan_key, row.thread_key) for row in made}
    found = await session.scalars(
        select(Conversation)
        .where(
            tuple_(Conversation.fan_key, Conversation.thread_key).in_(
                select(_KEYS.c.fan_key, _KEYS.c.thread_key)
            )
        )
        .order_by(Conversation.id)
        .with_for_update()
        .execution_options(populate_existing=True),
        {"fans": [key[0] for key in keys], "threads": [key[1] for key in keys]},
    )
    return {(row.fan_key, row.thread_key): row for row in found}, new


def _new_conversation(key: Key, event: FanEvent) -> dict[str, Any]:
    fan_key, thread_key = key
    return {
        "id": uuid.uuid4(), "fan_key": fan_key, "platform": event.platform,
        "account": event.account, "thread_key": thread_key, "status": "open",
        "opened_at": event.occurred_at, "last_inbound_at": event.occurred_at,
        "unanswered_count": 0, "priority": 0,
    }  # fmt: skip


async def keep_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Messages in (each once, by its direction and ref)."""
    if rows:
        rows = [{"id": uuid.uuid4(), **row} for row in rows]
        await session.execute(_KEEP_MESSAGES, column_arrays(MESSAGES, _MESSAGE_COLUMNS, rows))


async def standings_of(session: AsyncSession, fan_keys: Collection[str]) -> dict[str, FanStanding]:
    found = await session.scalars(
        select(FanStanding).where(FanStanding.fan_key == any_of("fans", Text())),
        {"fans": sorted(fan_keys)},
    )
    return {standing.fan_key: standing for standing in found}


async def running_clocks_of(
    session: AsyncSession, conversation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[SlaClock]]:
    """The conversations' clocks not ended, locked in the order of their ids (as the timers
    flag them), each conversation's in the order `running_clocks` gives."""
    if not conversation_ids:
        return {}
    found = await session.scalars(
        select(SlaClock)
        .where(SlaClock.conversation_id == any_of("ids", Uuid()), SlaClock.ended_at.is_(None))
        .order_by(SlaClock.id)
        .with_for_update()
        .execution_options(populate_existing=True),
        {"ids": sorted(conversation_ids)},
    )
    running: dict[uuid.UUID, list[SlaClock]] = {}
    for clock in sorted(found, key=lambda clock: (clock.started_at, clock.target)):
        running.setdefault(clock.conversation_id, []).append(clock)
    return running
