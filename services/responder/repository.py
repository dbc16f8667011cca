"""All SQL of responder."""

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, String, Table, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder.models import (
    Conversation,
    ConversationMessage,
    FanStanding,
    SlaClock,
    SlaPolicies,
)
from shared.contracts import FanEvent, ProfileUpdated
from shared.sql_arrays import column_arrays, insert_arrays

CLOCKS = cast(Table, SlaClock.__table__)


async def lock_conversation_of(
    session: AsyncSession, event: FanEvent, *, thread_key: str
) -> tuple[Conversation, bool]:
    """The fan's conversation on this thread, locked, made if there was none; True if made."""
    made = await session.execute(
        insert(Conversation)
        .values(
            id=uuid.uuid4(),
            fan_key=event.fan_key,
            platform=event.platform,
            account=event.account,
            thread_key=thread_key,
            status="open",
            opened_at=event.occurred_at,
            last_inbound_at=event.occurred_at,
            unanswered_count=0,
        )
        .on_conflict_do_nothing(index_elements=["fan_key", "thread_key"])
        .returning(Conversation.id)
    )
    new = made.first() is not None
    found = await session.scalars(
        select(Conversation)
        .where(Conversation.fan_key == event.fan_key, Conversation.thread_key == thread_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.one(), new


async def lock_conversation(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    found = await session.scalars(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.first()


async def running_clocks(session: AsyncSession, conversation_id: uuid.UUID) -> list[SlaClock]:
    """The conversation's clocks not ended, locked (a timer firing waits for the caller) in the
    order of their ids, as the timers flag them (two orders would deadlock); returned in the
    order they started."""
    found = await session.scalars(
        select(SlaClock)
        .where(SlaClock.conversation_id == conversation_id, SlaClock.ended_at.is_(None))
        .order_by(SlaClock.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return sorted(found, key=lambda clock: (clock.started_at, clock.target))


async def clock_met_by(session: AsyncSession, reply_id: str) -> SlaClock | None:
    found = await session.scalars(
        select(SlaClock).where(SlaClock.reply_id == reply_id).with_for_update()
    )
    return found.first()


async def save_clocks(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update clocks' rows: one statement for the rows that name the same columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in rows:
        by_columns.setdefault(tuple(values), []).append(values)
    for columns, same in by_columns.items():
        await session.execute(_upsert_clocks(columns), column_arrays(CLOCKS, columns, same))


@functools.lru_cache(maxsize=16)
def _upsert_clocks(columns: tuple[str, ...]) -> Any:
    """Built once for each set of columns (the steps write a handful of them)."""
    new = insert_arrays(CLOCKS, columns)
    changed = {name: new.excluded[name] for name in columns if name != "id"}
    return new.on_conflict_do_update(index_elements=["id"], set_=changed)


async def end_clock(session: AsyncSession, clock_id: uuid.UUID, **outcome: Any) -> None:
    await session.execute(update(SlaClock).where(SlaClock.id == clock_id).values(**outcome))


async def add_message(session: AsyncSession, **values: Any) -> bool:
    """Keep a message in or out; False if it was kept before (by its direction and ref)."""
    kept = await session.execute(
        insert(ConversationMessage)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_nothing(index_elements=["direction", "ref"])
        .returning(ConversationMessage.id)
    )
    return kept.first() is not None


async def outbound(session: AsyncSession, reply_id: str) -> ConversationMessage | None:
    found = await session.scalars(
        select(ConversationMessage).where(
            ConversationMessage.direction == "out", ConversationMessage.ref == reply_id
        )
    )
    return found.first()


async def messages_of(session: AsyncSession, conversation_id: uuid.UUID) -> list[Any]:
    found = await session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(ConversationMessage.at)
    )
    return list(found)


async def clocks_of(session: AsyncSession, conversation_id: uuid.UUID) -> list[SlaClock]:
    found = await session.scalars(
        select(SlaClock)
        .where(SlaClock.conversation_id == conversation_id)
        .order_by(SlaClock.started_at, SlaClock.target)
    )
    return list(found)


async def standing_of(session: AsyncSession, fan_key: str) -> FanStanding | None:
    return await session.get(FanStanding, fan_key)


async def save_standing(session: AsyncSession, update_: ProfileUpdated, *, at: datetime) -> bool:
    """Keep what scoring says of a fan, unless a later snapshot is kept already; True when
    kept."""
    values = {
        "fan_key": update_.fan_key, "tier": update_.tier, "role": update_.role,
        "priority": update_.priority, "person_key": update_.person_key, "updated_at": at,
        "tags": list(update_.tags),
    }  # fmt: skip
    new = insert(FanStanding).values(values)
    kept = await session.execute(
        new.on_conflict_do_update(
            index_elements=["fan_key"],
            set_={name: new.excluded[name] for name in values if name != "fan_key"},
            where=FanStanding.updated_at <= new.excluded.updated_at,
        ).returning(FanStanding.fan_key)
    )
    return kept.first() is not None


async def waiting_conversations_of(session: AsyncSession, fan_key: str) -> list[uuid.UUID]:
    """The fan's conversations waiting on an agent."""
    found = await session.scalars(
        select(Conversation.id)
        .where(Conversation.fan_key == fan_key, Conversation.status == "open")
        .order_by(Conversation.id)
    )
    return list(found)


async def last_inbound(
    session: AsyncSession, conversation_id: uuid.UUID
) -> ConversationMessage | None:
    found = await session.scalars(
        select(ConversationMessage)
        .where(
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.direction == "in",
        )
        .order_by(ConversationMessage.at.desc())
        .limit(1)
    )
    return found.first()


async def policies(session: AsyncSession) -> SlaPolicies | None:
    return await session.get(SlaPolicies, 1)


async def save_policies(
    session: AsyncSession, policies_: list[dict[str, object]], *, at: datetime, by: str | None
) -> int:
    """Replace the policies in force; returns their new version."""
    new = insert(SlaPolicies).values(id=1, policies=policies_, version=1, updated_at=at,
                                     updated_by=by)  # fmt: skip
    saved = await session.execute(
        new.on_conflict_do_update(
            index_elements=["id"],
            set_={"policies": new.excluded.policies, "version": SlaPolicies.version + 1,
                  "updated_at": new.excluded.updated_at, "updated_by": new.excluded.updated_by},
        ).returning(SlaPolicies.version)
    )  # fmt: skip
    return int(saved.scalar_one())


_DUE_COLUMNS = (SlaClock.id, SlaClock.conversation_id, SlaClock.target, SlaClock.policy_id,
                SlaClock.deadline, SlaClock.warning_at)  # fmt: skip


async def lock_conversations_of_clocks(
    session: AsyncSession, clock_ids: Sequence[uuid.UUID]
) -> None:
    """Lock the conversations of these clocks, in the order of their ids."""
    of_clocks = select(SlaClock.conversation_id).where(SlaClock.id.in_(sorted(clock_ids)))
    await session.execute(
        select(Conversation.id)
        .where(Conversation.id.in_(of_clocks))
        .order_by(Conversation.id)
        .with_for_update()
    )


async def mark_due(
    session: AsyncSession, clock_ids: Sequence[uuid.UUID], *, flag: str, now: datetime
) -> list[Row[Any]]:
    """Set `flag` (warned, breached) on those of these clocks running, not flagged yet and due
    by `now` (their warning, their deadline), in one statement; returns them with their
    conversation's fan. A clock another transaction holds is waited for, then looked at anew:
    a reply that ended it first leaves it out."""
    when = SlaClock.warning_at if flag == "warned" else SlaClock.deadline
    # locked in the order of their ids first, as every taker of several clocks locks them: the
    # update's own scan may meet them in any order (two orders would deadlock)
    locked = (
        select(SlaClock.id)
        .where(SlaClock.id.in_(sorted(clock_ids)))
        .order_by(SlaClock.id)
        .with_for_update()
        .cte("locked")
    )
    flagged = (
        update(SlaClock)
        .where(
            SlaClock.id.in_(select(locked.c.id)),
            SlaClock.ended_at.is_(None),
            getattr(SlaClock, flag).is_(False),
            when.is_not(None),
            when <= now,
        )
        .values({flag: True})
        .returning(*_DUE_COLUMNS)
        .cte("flagged")
    )
    rows = await session.execute(
        select(flagged, Conversation.fan_key, Conversation.platform, Conversation.account).join(
            Conversation, Conversation.id == flagged.c.conversation_id
        )
    )
    return list(rows)


async def timers_due_by(
    session: AsyncSession, horizon: datetime
) -> list[tuple[str, uuid.UUID, datetime]]:
    """Every pending deadline, warning and snooze end at or before `horizon`, as (kind, ref,
    at)."""
    running = SlaClock.ended_at.is_(None)
    breaches = select(literal("breach", String), SlaClock.id, SlaClock.deadline).where(
        running, SlaClock.breached.is_(False), SlaClock.deadline <= horizon
    )
    warnings = select(literal("warning", String), SlaClock.id, SlaClock.warning_at).where(
        running, SlaClock.warned.is_(False), SlaClock.warning_at <= horizon
    )
    wakes = select(literal("wake", String), Conversation.id, Conversation.snoozed_until).where(
        Conversation.status == "snoozed", Conversation.snoozed_until <= horizon
    )
    rows = await session.execute(breaches.union_all(warnings, wakes))
    return [(kind, ref, at) for kind, ref, at in rows if at is not None]


async def snoozed_due(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID], *, now: datetime
) -> list[uuid.UUID]:
    found = await session.scalars(
        select(Conversation.id).where(
            Conversation.id.in_(sorted(conversation_ids)),
            Conversation.status == "snoozed",
            Conversation.snoozed_until <= now,
        )
    )
    return list(found)


async def list_open(session: AsyncSession, *, limit: int) -> list[Conversation]:
    """Not resolved, waiting longest first."""
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.status != "resolved")
        .order_by(Conversation.awaiting_since.asc().nulls_last(), Conversation.last_inbound_at)
        .limit(limit)
    )
    return list(rows)


async def open_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Conversation.status, func.count())
        .where(Conversation.status != "resolved")
        .group_by(Conversation.status)
    )
    return {status: int(count) for status, count in rows}


async def oldest_awaiting(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(func.min(Conversation.awaiting_since)).where(Conversation.status == "open")
    )
