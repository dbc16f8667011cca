"""Scoring's Kafka subscribers, in one registry."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import identity_graph, service
from services.scoring.config import ScoringSettings
from services.scoring.coupon_signals import SCORED_COUPON_TYPES, ScoredCouponEvent
from services.scoring.domain import ScoringModel
from shared import topics
from shared.consumer_batch import BatchRegistry
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    FanFollowed,
    FanLabelled,
    FanMerged,
    FanUnfollowed,
    FanUnmerged,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)
from shared.events import CloudEvent, EventData
from shared.outbox import Outbox
from shared.service import Subscription

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


Decision = FanLabelled | FanMerged | FanUnmerged


def operator_registry(model: ScoringModel, outbox: Outbox) -> BatchRegistry:
    """Operators' decisions: labels, merges and unmerges. Each is kept with its time, and a
    later decision wins over an earlier one whichever comes first, so their order on the topic
    does not matter."""

    async def decide(session: AsyncSession, decisions: Sequence[CloudEvent[Decision]]) -> None:
        now = datetime.now(UTC)
        if any(not isinstance(decision.data, FanLabelled) for decision in decisions):
            await identity_graph.lock(session)  # before any profile, as every writer takes it
        for decision in decisions:
            if isinstance(decision.data, FanLabelled):
                labelled = cast(CloudEvent[FanLabelled], decision)
                await service.label_fan(session, labelled, model=model, outbox=outbox, now=now)
            else:
                linked = cast(CloudEvent[FanMerged] | CloudEvent[FanUnmerged], decision)
                await service.decide_identity(session, linked, model=model, outbox=outbox, now=now)

    return BatchRegistry(decide, frozenset({FanLabelled, FanMerged, FanUnmerged}))


def coupons_registry(model: ScoringModel, outbox: Outbox) -> BatchRegistry:
    """Red-packet claims and referral rewards (`coupon_signals`); coupons' other events are
    passed over."""

    async def score_coupon_events(
        session: AsyncSession, events: Sequence[CloudEvent[ScoredCouponEvent]]
    ) -> None:
        now = datetime.now(UTC)
        await service.score_coupon_events(session, events, model=model, outbox=outbox, now=now)

    return BatchRegistry(score_coupon_events, frozenset(SCORED_COUPON_TYPES))


def subscriptions(
    settings: ScoringSettings, model: ScoringModel, outbox: Outbox
) -> list[Subscription]:
    """What scoring reads, each topic in its own consumer group: the fans' events, the
    operators' decisions (few, not held up behind a backlog of events), and what fans' red
    packets brought others to do. The rebuild replays the same."""
    return [
        Subscription([settings.topic(topics.EVENTS)], registry(model, outbox)),
        Subscription(
            [settings.topic(topics.OPERATOR)], operator_registry(model, outbox), group="operator"
        ),
        Subscription(
            [settings.topic(topics.COUPONS)], coupons_registry(model, outbox), group="coupons"
        ),
    ]
