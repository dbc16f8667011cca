"""The routing queue's SQL: agents and teams, what each holds, and the next conversation an
agent can take."""

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder.models import Agent, Conversation, Offer, Team

ANY_PLATFORM = "*"  # the capacity key of every platform an agent's capacity does not name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def agent_by_token(session: AsyncSession, token: str, *, lock: bool = False) -> Agent | None:
    query = select(Agent).where(Agent.token_sha256 == token_hash(token))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = await session.scalars(query)
    return found.first()


async def lock_agent(session: AsyncSession, agent_id: str) -> Agent | None:
    """The agent, locked: an agent's claims and assignments are counted one at a time."""
    found = await session.scalars(
        select(Agent)
        .where(Agent.id == agent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.first()


async def add_agent(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False if an agent of that id exists."""
    added = await session.execute(
        insert(Agent).values(values).on_conflict_do_nothing().returning(Agent.id)
    )
    return added.first() is not None


async def save_team(session: AsyncSession, team_id: str, name: str) -> None:
    new = insert(Team).values(id=team_id, name=name)
    await session.execute(
        new.on_conflict_do_update(index_elements=["id"], set_={"name": new.excluded.name})
    )


async def teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).order_by(Team.id)))


async def agents(session: AsyncSession) -> list[Agent]:
    return list(await session.scalars(select(Agent).order_by(Agent.id)))


async def held(session: AsyncSession, agent_id: str) -> dict[str, int]:
    """How many conversations not resolved the agent holds, per platform."""
    rows = await session.execute(
        select(Conversation.platform, func.count())
        .where(Conversation.assignee_id == agent_id, Conversation.status != "resolved")
        .group_by(Conversation.platform)
    )
    return {platform: int(count) for platform, count in rows}


def skills(agent: Agent, *, vip_priority: int) -> list[ColumnElement[bool]]:
    """What a conversation must be for the agent's skills: a platform and language among its
    own (none listed: any; a conversation of no known language: any agent), and not a VIP's
    (priority `vip_priority` or more) unless the agent handles VIPs."""
    conditions: list[ColumnElement[bool]] = []
    if agent.platforms:
        conditions.append(Conversation.platform.in_(agent.platforms))
    if agent.languages:
        spoken = [Conversation.language.startswith(language) for language in agent.languages]
        conditions.append(or_(Conversation.language.is_(None), *spoken))
    if not agent.vip:
        conditions.append(Conversation.priority < vip_priority)
    return conditions


async def next_for(
    session: AsyncSession, conditions: Sequence[ColumnElement[bool]]
) -> Conversation | None:
    """The first conversation of the queue these conditions let through, locked; one another
    transaction is claiming is passed over (SKIP LOCKED), never waited for nor taken twice, and
    so is one on offer to an agent."""
    on_offer = select(Offer.conversation_id).where(Offer.status == "pending")
    found = await session.scalars(
        select(Conversation)
        .where(
            Conversation.status == "open",
            Conversation.assignee_id.is_(None),
            Conversation.id.not_in(on_offer),
            *conditions,
        )
        .order_by(Conversation.queue_due.asc().nulls_last(), Conversation.awaiting_since)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return found.first()


async def queue(
    session: AsyncSession, conditions: Sequence[ColumnElement[bool]], *, limit: int
) -> list[Conversation]:
    found = await session.scalars(
        select(Conversation)
        .where(Conversation.status == "open", Conversation.assignee_id.is_(None), *conditions)
        .order_by(Conversation.queue_due.asc().nulls_last(), Conversation.awaiting_since)
        .limit(limit)
    )
    return list(found)


async def work_of(session: AsyncSession, agent: Agent, *, limit: int) -> list[Conversation]:
    """The conversations the agent holds, and those its team holds, not resolved."""
    team = (
        select(Agent.id).where(Agent.team_id == agent.team_id)
        if agent.team_id is not None
        else select(Agent.id).where(false())
    )
    found = await session.scalars(
        select(Conversation)
        .where(
            Conversation.status != "resolved",
            or_(Conversation.assignee_id == agent.id, Conversation.assignee_id.in_(team)),
        )
        .order_by(Conversation.queue_due.asc().nulls_last(), Conversation.awaiting_since)
        .limit(limit)
    )
    return list(found)


async def gone_silent(session: AsyncSession, *, before: datetime) -> list[str]:
    """Agents not offline whose last heartbeat is older than `before`, set offline."""
    rows = await session.scalars(
        update(Agent)
        .where(Agent.presence != "offline", Agent.heartbeat_at < before)
        .values(presence="offline")
        .returning(Agent.id)
    )
    return sorted(rows)


async def release(session: AsyncSession, conversation_ids: Sequence[Any]) -> list[Any]:
    """Put these conversations back in the queue, those an agent holds and that wait on one.
    One another transaction holds is passed over (SKIP LOCKED): its agent is acting on it, and
    the caller (a timer holding clocks) must not wait for a transaction that waits for them."""
    if not conversation_ids:
        return []
    free = (
        select(Conversation.id)
        .where(
            Conversation.id.in_(sorted(set(conversation_ids))),
            Conversation.assignee_id.is_not(None),
            Conversation.status == "open",
        )
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(free.scalar_subquery()))
        .values(assignee_id=None, assigned_at=None)
        .returning(Conversation.id)
    )
    return list(rows.scalars())


async def release_held_by(session: AsyncSession, agent_ids: Sequence[str]) -> list[Any]:
    """Put back in the queue what these agents hold and waits on an agent."""
    if not agent_ids:
        return []
    rows = await session.execute(
        update(Conversation)
        .where(Conversation.assignee_id.in_(agent_ids), Conversation.status == "open")
        .values(assignee_id=None, assigned_at=None)
        .returning(Conversation.id)
    )
    return list(rows.scalars())


async def queue_stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many conversations wait on an agent with none holding them, and since when the
    oldest waits."""
    row = (
        await session.execute(
            select(func.count(), func.min(Conversation.awaiting_since)).where(
                Conversation.status == "open", Conversation.assignee_id.is_(None)
            )
        )
    ).one()
    return int(row[0]), row[1]


async def presence_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Agent.presence, func.count()).group_by(Agent.presence))
    return {presence: int(count) for presence, count in rows}


async def online_load(session: AsyncSession) -> tuple[int, int]:
    """What agents online hold (not resolved), and the sum of their capacities."""
    online = select(Agent.id).where(Agent.presence == "online")
    held = await session.scalar(
        select(func.count()).where(
            Conversation.assignee_id.in_(online), Conversation.status != "resolved"
        )
    )
    capacities = await session.scalars(select(Agent.capacity).where(Agent.presence == "online"))
    return int(held or 0), sum(sum(capacity.values()) for capacity in capacities)


async def team_load(session: AsyncSession) -> dict[str | None, tuple[int, int, int]]:
    """Per team (None: agents of no team): agents online, what they hold (not resolved), and
    the sum of their capacities."""
    online = await session.execute(
        select(Agent.id, Agent.team_id, Agent.capacity).where(Agent.presence == "online")
    )
    teams: dict[str | None, tuple[int, int, int]] = {}
    team_of: dict[str, str | None] = {}
    for agent_id, team_id, capacity in online:
        team_of[agent_id] = team_id
        agents, held, room = teams.get(team_id, (0, 0, 0))
        teams[team_id] = (agents + 1, held, room + sum(capacity.values()))
    held_by = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.assignee_id.in_(list(team_of)), Conversation.status != "resolved")
        .group_by(Conversation.assignee_id)
    )
    for assignee, count in held_by:
        team = team_of[str(assignee)]
        agents, held, room = teams[team]
        teams[team] = (agents, held + int(count), room)
    return teams
