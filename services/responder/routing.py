"""The routing queue's rules: agents and their presence, what each can take, and who holds
which conversation. Takes the session first; flushes, never commits.

No conversation is held by two agents: a claim takes the queue's next conversation with
`FOR UPDATE SKIP LOCKED` (two claims at once get two conversations), and an agent's claims are
counted under a lock on the agent's row (its capacity holds however fast it clicks)."""

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import metrics
from services.responder import routing_repository as repository
from services.responder.models import Agent, Conversation
from services.responder.routing_repository import ANY_PLATFORM
from shared.db import after_commit

Presence = str  # online, away, offline


class Refused(ValueError):
    """The action does not fit the agent or the conversation as they are."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class NewAgent:
    id: str
    name: str
    role: str = "agent"
    team_id: str | None = None
    capacity: Mapping[str, int] = field(default_factory=lambda: {ANY_PLATFORM: 5})
    languages: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    vip: bool = False


async def add_agent(session: AsyncSession, new: NewAgent) -> str:
    """The agent added; returns its sign-in token, shown once (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    added = await repository.add_agent(
        session,
        {"id": new.id, "name": new.name, "role": new.role, "team_id": new.team_id,
         "token_sha256": repository.token_hash(token), "capacity": dict(new.capacity),
         "languages": [language.lower() for language in new.languages],
         "platforms": list(new.platforms), "vip": new.vip},
    )  # fmt: skip
    if not added:
        raise Refused(f"an agent {new.id} exists")
    return token


def heartbeat(agent: Agent, *, presence: Presence, now: datetime) -> Agent:
    """The agent (locked by the caller) is there (online, or away: there but not taking
    work)."""
    agent.presence, agent.heartbeat_at = presence, now
    if presence == "online":
        agent.lapsed_offers = 0
    return agent


def room(capacity: Mapping[str, int], held: Mapping[str, int]) -> ColumnElement[bool] | None:
    """The platforms the agent has room for, as a condition on a conversation; None: none. A
    platform the capacity names has its own count; every other one `*`'s count each."""
    named = {platform: n for platform, n in capacity.items() if platform != ANY_PLATFORM}
    open_named = [p for p, n in named.items() if held.get(p, 0) < n]
    conditions = [Conversation.platform.in_(open_named)] if open_named else []
    any_capacity = capacity.get(ANY_PLATFORM)
    if any_capacity:
        full = [p for p, n in held.items() if p not in named and n >= any_capacity]
        conditions.append(Conversation.platform.not_in([*named, *full]))
    return or_(*conditions) if conditions else None


async def _able(
    session: AsyncSession, agent: Agent, *, vip_priority: int
) -> list[ColumnElement[bool]] | None:
    """What a conversation must be for the agent to take it now; None: the agent is full."""
    spare = room(agent.capacity, await repository.held(session, agent.id))
    if spare is None:
        return None
    return [spare, *repository.skills(agent, vip_priority=vip_priority)]


async def claim_next(
    session: AsyncSession, agent: Agent, *, now: datetime, vip_priority: int
) -> Conversation | None:
    """The most urgent conversation the agent (locked by the caller: their claims are counted
    one at a time) can take, now theirs; None when the queue holds none they can take, or they
    have no room."""
    if agent.presence != "online":
        raise Refused("only an agent online takes work: send a heartbeat with presence online")
    able = await _able(session, agent, vip_priority=vip_priority)
    conversation = None if able is None else await repository.next_for(session, able)
    if conversation is not None:
        assign(session, conversation, agent.id, now=now)
    outcome = "full" if able is None else "empty" if conversation is None else "claimed"
    after_commit(session, metrics.CLAIMS.labels(outcome).inc)
    return conversation


def assign(
    session: AsyncSession, conversation: Conversation, agent_id: str, *, now: datetime
) -> None:
    waited = (now - conversation.awaiting_since) if conversation.awaiting_since else timedelta(0)
    conversation.assignee_id, conversation.assigned_at = agent_id, now
    conversation.last_agent_id = agent_id
    seconds = max(waited.total_seconds(), 0.0)
    after_commit(session, lambda: metrics.TIME_TO_ASSIGNMENT.observe(seconds))


async def queue_for(
    session: AsyncSession, agent: Agent, *, vip_priority: int, limit: int
) -> list[Conversation]:
    """The waiting conversations the agent could take, most urgent first (what claim-next
    would give, in order; whatever the agent's room now)."""
    skills = repository.skills(agent, vip_priority=vip_priority)
    return await repository.queue(session, skills, limit=limit)


async def transfer(
    session: AsyncSession, conversation_id: uuid.UUID, *, to: str | None, now: datetime
) -> None:
    """Hand the conversation to another agent (`to`), or back to the queue (None)."""
    conversation = await session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id}")
    if to is None:
        conversation.assignee_id, conversation.assigned_at = None, None
        return
    if await repository.lock_agent(session, to) is None:
        raise NotFound(f"no agent {to}")
    assign(session, conversation, to, now=now)


async def sweep_presence(session: AsyncSession, *, now: datetime, silence: timedelta) -> int:
    """Agents whose heartbeats stopped go offline, and what they held that waits on an agent
    goes back to the queue; returns how many conversations went back."""
    silent = await repository.gone_silent(session, before=now - silence)
    released = await repository.release_held_by(session, silent)
    if released:
        after_commit(session, lambda: metrics.REASSIGNED.labels("agent_offline").inc(len(released)))
    return len(released)
