"""Scoring's Kafka subscribers, in one registry."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import service
from services.scoring.domain import ScoringModel
from shared.consumer import HandlerRegistry
from shared.consumer_batch import BatchRegistry
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    FanFollowed,
    FanLabelled,
    FanUnfollowed,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)
from shared.events import CloudEvent, EventData
from shared.outbox import Outbox

# What the model reads of a fan (services/scoring/scores/state.py).
SCORED_TYPES: tuple[type[EventData], ...] = (
    MessageReceived, CommentCreated, ReactionAdded, ContentShared, FanFollowed, FanUnfollowed,
    OrderPaid, OrderRefunded,
)  # fmt: skip


def registry(model: ScoringModel, outbox: Outbox) -> BatchRegistry:
    async def score_events(session: AsyncSession, events: Sequence[CloudEvent[FanEvent]]) -> None:
        now = datetime.now(UTC)
        await service.score_events(session, events, model=model, outbox=outbox, now=now)

    return BatchRegistry(score_events, frozenset(SCORED_TYPES))


def operator_registry(model: ScoringModel, outbox: Outbox) -> HandlerRegistry:
    """Operators' decisions: few, each in its own transaction."""

    async def label_fan(session: AsyncSession, decision: CloudEvent[FanLabelled]) -> None:
        now = datetime.now(UTC)
        await service.label_fan(session, decision, model=model, outbox=outbox, now=now)

    return {FanLabelled: label_fan}
