"""Push routing: the queue's conversations offered, most urgent first, each to the best agent
available; the agent accepts or declines, or lets the offer lapse and it goes to the next.
Takes the session first; flushes, never commits.

The best agent for a conversation: online, with no offer pending, room on its platform and the
skills it needs, who has not declined or let lapse an offer of it; the fan's previous agent
first, then the one with the most room left (ties: the agent id). One replica makes offers at a
time (an advisory lock), so no two offers of one conversation are made at once; an offer and a
claim are kept apart by the queue's rule that a claim passes over a conversation on offer."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import metrics
from services.responder import offers_repository as repository
from services.responder.models import Agent, Conversation, Offer
from services.responder.routing import NotFound, Refused, assign
from services.responder.routing_repository import ANY_PLATFORM
from shared.db import after_commit

OFFERS_LOCK = 0x5C0_0010  # advisory lock key: one replica makes offers at a time


@dataclass(frozen=True)
class OfferRules:
    lifetime: timedelta = timedelta(seconds=60)
    lapses_before_away: int = 2
    vip_priority: int = 80
    batch: int = 200


async def make_offers(session: AsyncSession, *, now: datetime, rules: OfferRules) -> int:
    """Lapse the offers whose time is up, then offer what waits to whoever is free; returns
    how many offers were made. Another replica at it already: nothing (it makes them)."""
    if not await repository.try_lock(session, OFFERS_LOCK):
        return 0
    await _lapse(session, now=now, rules=rules)
    free = await repository.free_agents(session)
    if not free:
        return 0
    held = await repository.held_by(session, [agent.id for agent in free])
    waiting = await repository.offerable(session, limit=rules.batch)
    refused = await repository.refusals(session, [c.id for c in waiting])
    made = 0
    for conversation in waiting:
        agent = best_agent(conversation, free, held, refused.get(conversation.id, set()),
                           vip_priority=rules.vip_priority)  # fmt: skip
        if agent is None:
            continue
        await repository.add_offer(session, conversation.id, agent.id, now=now,
                                   expires_at=now + rules.lifetime)  # fmt: skip
        _count_offer(session, conversation, now=now, first=conversation.id not in refused)
        free.remove(agent)
        made += 1
        if not free:
            break
    return made


def best_agent(
    conversation: Conversation, agents: Sequence[Agent], held: Mapping[str, Mapping[str, int]],
    refused: set[str], *, vip_priority: int,
) -> Agent | None:  # fmt: skip
    able = [
        agent for agent in agents
        if agent.id not in refused and _fits(agent, conversation, vip_priority=vip_priority)
        and _room(agent, conversation.platform, held.get(agent.id, {})) > 0
    ]  # fmt: skip
    if not able:
        return None
    previous = next((a for a in able if a.id == conversation.last_agent_id), None)
    if previous is not None:
        return previous
    return min(able, key=lambda a: (-_room(a, conversation.platform, held.get(a.id, {})), a.id))


def _fits(agent: Agent, conversation: Conversation, *, vip_priority: int) -> bool:
    if agent.platforms and conversation.platform not in agent.platforms:
        return False
    language = conversation.language
    if agent.languages and language and not any(language.startswith(x) for x in agent.languages):
        return False
    return agent.vip or conversation.priority < vip_priority


def _room(agent: Agent, platform: str, held: Mapping[str, int]) -> int:
    capacity = agent.capacity.get(platform, agent.capacity.get(ANY_PLATFORM, 0))
    return capacity - held.get(platform, 0)


async def _lapse(session: AsyncSession, *, now: datetime, rules: OfferRules) -> None:
    """Offers whose time is up lapse; an agent who let `lapses_before_away` lapse in a row
    is set away (there, but not answering)."""
    lapsed = await repository.lapse_due(session, now=now)
    if lapsed:
        await repository.count_lapses(session, lapsed, away_after=rules.lapses_before_away)
        after_commit(session, lambda: metrics.OFFERS.labels("lapsed").inc(len(lapsed)))


def _count_offer(
    session: AsyncSession, conversation: Conversation, *, now: datetime, first: bool
) -> None:
    since = conversation.awaiting_since
    waited = (now - since).total_seconds() if first and since is not None else None

    def count() -> None:
        metrics.OFFERS.labels("made").inc()
        if waited is not None:
            metrics.TIME_TO_FIRST_OFFER.observe(max(waited, 0.0))

    after_commit(session, count)


async def accept(
    session: AsyncSession, offer_id: uuid.UUID, agent_id: str, *, now: datetime
) -> Conversation | str:
    """The agent takes the conversation offered to them, now theirs; or why not (the offer
    lapsed, or the conversation was taken meanwhile: the offer's end is kept either way)."""
    offer = await _pending_of(session, offer_id, agent_id)
    if offer.expires_at <= now:
        offer.status, offer.decided_at = "lapsed", now
        return "the offer lapsed: it has gone to the next agent"
    conversation = await session.get(Conversation, offer.conversation_id, with_for_update=True)
    if conversation is None or conversation.assignee_id is not None:
        offer.status, offer.decided_at = "withdrawn", now
        return "the conversation was taken meanwhile"
    offer.status, offer.decided_at = "accepted", now
    assign(session, conversation, agent_id, now=now)
    after_commit(session, metrics.OFFERS.labels("accepted").inc)
    return conversation


async def decline(
    session: AsyncSession, offer_id: uuid.UUID, agent_id: str, *, now: datetime
) -> None:
    """The agent passes: the conversation goes to the next agent, never back to them."""
    offer = await _pending_of(session, offer_id, agent_id)
    offer.status, offer.decided_at = "declined", now
    after_commit(session, metrics.OFFERS.labels("declined").inc)


async def _pending_of(session: AsyncSession, offer_id: uuid.UUID, agent_id: str) -> Offer:
    offer = await session.get(Offer, offer_id, with_for_update=True)
    if offer is None or offer.agent_id != agent_id:
        raise NotFound(f"no offer {offer_id}")
    if offer.status != "pending":
        raise Refused(f"the offer is {offer.status}")
    return offer
