"""Scoring's Kafka subscribers, in one registry."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import service
from shared.consumer import HandlerRegistry
from shared.contracts import CommentCreated, ContentShared, FanEvent, MessageReceived, ReactionAdded
from shared.events import CloudEvent
from shared.outbox import Outbox


def registry(outbox: Outbox) -> HandlerRegistry:
    async def score_interaction(session: AsyncSession, event: CloudEvent[FanEvent]) -> None:
        await service.record_interaction(session, event, outbox=outbox)

    return {
        MessageReceived: score_interaction,
        CommentCreated: score_interaction,
        ReactionAdded: score_interaction,
        ContentShared: score_interaction,
    }
