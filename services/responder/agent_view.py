"""What an agent's console shows, read in one go: the agent, their offers, their and their
team's conversations with each one's reply clock, the queue they could take from, and
responder's time (the console counts down from it, whatever the clock of the machine it runs
on). `events` streams it as server-sent events whenever it changes."""

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.responder import offers_repository, routing, routing_repository
from services.responder.models import Agent, FanStanding, SlaClock
from services.responder.schemas import AgentOut, ConversationOut, OfferOut
from services.responder.sla.conversation import REPLY_TARGETS
from services.responder.time_source import TimeSource

KEEPALIVE_SECONDS = 15.0


async def snapshot(
    session: AsyncSession, agent: Agent, *, clock: TimeSource, vip_priority: int
) -> dict[str, Any]:
    work = await routing_repository.work_of(session, agent, limit=200)
    queued = await routing.queue_for(session, agent, vip_priority=vip_priority, limit=50)
    offers = await offers_repository.pending_for(session, agent.id)
    conversations = [*work, *(c for _, c in offers), *queued]
    clocks = await reply_clocks(session, [c.id for c in conversations])
    fans = await standings(session, [c.fan_key for c in conversations])

    def shown(conversation: Any) -> dict[str, Any]:
        out = ConversationOut.model_validate(conversation).model_dump(mode="json")
        return {**out, "clock": clocks.get(conversation.id), "fan": fans.get(conversation.fan_key)}

    return {
        "now": clock.now().isoformat(),
        "agent": AgentOut.model_validate(agent).model_dump(mode="json"),
        "offers": [
            {**OfferOut.of(offer, c).model_dump(mode="json"), "conversation": shown(c)}
            for offer, c in offers
        ],
        "conversations": [shown(c) for c in work],
        "queue": [shown(c) for c in queued],
    }


async def reply_clocks(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each conversation's latest reply clock, as the console colours it."""
    if not conversation_ids:
        return {}
    found = await session.scalars(
        select(SlaClock)
        .where(SlaClock.conversation_id.in_(conversation_ids), SlaClock.target.in_(REPLY_TARGETS))
        .order_by(SlaClock.conversation_id, SlaClock.started_at.desc())
    )
    latest: dict[uuid.UUID, SlaClock] = {}
    for clock in found:
        latest.setdefault(clock.conversation_id, clock)
    rows = latest.values()
    return {
        clock.conversation_id: {
            "target": clock.target,
            "policy_id": clock.policy_id,
            "started_at": _iso(clock.started_at),
            "deadline": _iso(clock.deadline),
            "warning_at": _iso(clock.warning_at),
            "paused_since": _iso(clock.paused_since),
            "breached": clock.breached,
            "outcome": clock.outcome,
            "ended_at": _iso(clock.ended_at),
            "latency_seconds": clock.latency_seconds,
        }
        for clock in rows
    }


async def standings(session: AsyncSession, fan_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What scoring says of these fans: priority, tier, role, tags."""
    if not fan_keys:
        return {}
    rows = await session.scalars(select(FanStanding).where(FanStanding.fan_key.in_(fan_keys)))
    return {
        row.fan_key: {
            "tier": row.tier,
            "role": row.role,
            "priority": row.priority,
            "tags": list(row.tags),
            "person_key": row.person_key,
        }
        for row in rows
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


async def events(
    sessionmaker: async_sessionmaker[AsyncSession],
    agent_id: str,
    *,
    clock: TimeSource,
    vip_priority: int,
    gone: Callable[[], Any],
    interval: float = 1.0,
) -> AsyncIterator[str]:
    """Server-sent events: a `snapshot` whenever what the agent sees changes (looked at every
    `interval`, each look its own short transaction), a comment now and then to keep proxies
    from closing the stream; until the client goes."""
    last, quiet = "", 0.0
    while not await gone():
        async with sessionmaker() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None:
                return
            view = await snapshot(session, agent, clock=clock, vip_priority=vip_priority)
        # The time counts in the digest by the half minute: the console resyncs its countdowns
        # that often when nothing else changes (a simulated clock may jump).
        half_minute = int(clock.now().timestamp() // 30)
        body = json.dumps({**view, "now": half_minute}, sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        if digest != last:
            last, quiet = digest, 0.0
            yield f"event: snapshot\ndata: {json.dumps(view)}\n\n"
        elif quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": still here\n\n"
        await asyncio.sleep(interval)
        quiet += interval
