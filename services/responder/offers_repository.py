"""Push routing's SQL: offers made, lapsed and decided, and who is free to take one."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder.models import Agent, Conversation, Offer


async def try_lock(session: AsyncSession, key: int) -> bool:
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key))))


async def free_agents(session: AsyncSession) -> list[Agent]:
    """Agents online with no offer pending, locked in id order (a claim waits for the offers
    made meanwhile, and sees them)."""
    pending = select(Offer.agent_id).where(Offer.status == "pending")
    found = await session.scalars(
        select(Agent)
        .where(Agent.presence == "online", Agent.id.not_in(pending))
        .order_by(Agent.id)
        .with_for_update()
    )
    return list(found)


async def held_by(session: AsyncSession, agent_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(Conversation.assignee_id, Conversation.platform, func.count())
        .where(Conversation.assignee_id.in_(agent_ids), Conversation.status != "resolved")
        .group_by(Conversation.assignee_id, Conversation.platform)
    )
    held: dict[str, dict[str, int]] = defaultdict(dict)
    for agent_id, platform, count in rows:
        if agent_id is not None:
            held[agent_id][platform] = int(count)
    return held


async def offerable(session: AsyncSession, *, limit: int) -> list[Conversation]:
    """The queue's conversations with no offer pending, most urgent first; one a claim holds
    is passed over."""
    pending = select(Offer.conversation_id).where(Offer.status == "pending")
    found = await session.scalars(
        select(Conversation)
        .where(
            Conversation.status == "open",
            Conversation.assignee_id.is_(None),
            Conversation.id.not_in(pending),
        )
        .order_by(Conversation.queue_due.asc().nulls_last(), Conversation.awaiting_since)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(found)


async def refusals(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    """For each conversation, the agents who declined it or let its offer lapse."""
    rows = await session.execute(
        select(Offer.conversation_id, Offer.agent_id).where(
            Offer.conversation_id.in_(conversation_ids),
            Offer.status.in_(("declined", "lapsed")),
        )
    )
    refused: dict[uuid.UUID, set[str]] = defaultdict(set)
    for conversation_id, agent_id in rows:
        refused[conversation_id].add(agent_id)
    return refused


async def add_offer(
    session: AsyncSession, conversation_id: uuid.UUID, agent_id: str, *, now: datetime,
    expires_at: datetime,
) -> None:  # fmt: skip
    session.add(Offer(id=uuid.uuid4(), conversation_id=conversation_id, agent_id=agent_id,
                      offered_at=now, expires_at=expires_at, status="pending"))  # fmt: skip
    await session.flush()


async def lapse_due(session: AsyncSession, *, now: datetime) -> list[str]:
    """Pending offers whose time is up, lapsed; returns their agents."""
    rows = await session.scalars(
        update(Offer)
        .where(Offer.status == "pending", Offer.expires_at <= now)
        .values(status="lapsed", decided_at=now)
        .returning(Offer.agent_id)
    )
    return list(rows)


async def count_lapses(session: AsyncSession, agent_ids: Sequence[str], *, away_after: int) -> None:
    await session.execute(
        update(Agent)
        .where(Agent.id.in_(sorted(set(agent_ids))))
        .values(lapsed_offers=Agent.lapsed_offers + 1)
    )
    await session.execute(
        update(Agent)
        .where(
            Agent.id.in_(sorted(set(agent_ids))),
            Agent.lapsed_offers >= away_after,
            Agent.presence == "online",
        )
        .values(presence="away")
    )


async def pending_for(session: AsyncSession, agent_id: str) -> list[tuple[Offer, Conversation]]:
    rows = await session.execute(
        select(Offer, Conversation)
        .join(Conversation, Conversation.id == Offer.conversation_id)
        .where(Offer.agent_id == agent_id, Offer.status == "pending")
        .order_by(Offer.offered_at)
    )
    return [(offer, conversation) for offer, conversation in rows]
