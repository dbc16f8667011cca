"""responder's Kafka subscribers, in one batch registry: fans' messages and comments (and
ingest's reports on replies) from the events topic, what scoring says of fans from the profiles
topic. A partition's fetched events are applied in one transaction, in order: each run of
messages and comments together (`inbox`), anything else one event at a time."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import inbox, service
from services.responder.clocks import Deps
from shared.consumer_batch import BatchRegistry
from shared.contracts import (
    CommentCreated,
    MessageReceived,
    ProfileUpdated,
    ReplyDelivered,
    ReplyFailed,
)
from shared.events import CloudEvent, EventData

MESSAGES = (MessageReceived, CommentCreated)
HANDLED: frozenset[type[EventData]] = frozenset(
    {*MESSAGES, ReplyDelivered, ReplyFailed, ProfileUpdated}
)


def registry(deps: Deps) -> BatchRegistry:
    async def apply(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
        messages: list[CloudEvent[Any]] = []
        for event in events:
            if isinstance(event.data, MESSAGES):
                messages.append(event)
                continue
            if messages:
                await inbox.receive_messages(session, messages, deps=deps)
                messages = []
            await _apply_one(session, event, deps=deps)
        if messages:
            await inbox.receive_messages(session, messages, deps=deps)

    return BatchRegistry(apply, HANDLED)


async def _apply_one(session: AsyncSession, event: CloudEvent[Any], *, deps: Deps) -> None:
    if isinstance(event.data, ProfileUpdated):
        await service.standing_updated(session, event, deps=deps)
    else:
        await service.delivery_reported(session, event, deps=deps)
