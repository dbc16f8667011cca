"""responder's Kafka subscribers, in one registry: fans' messages and comments (and ingest's
reports on replies) from the events topic, what scoring says of fans from the profiles topic."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import service
from services.responder.clocks import Deps
from shared.consumer import HandlerRegistry
from shared.contracts import (
    CommentCreated,
    FanEvent,
    MessageReceived,
    ProfileUpdated,
    ReplyDelivered,
    ReplyFailed,
)
from shared.events import CloudEvent


def registry(deps: Deps) -> HandlerRegistry:
    async def open_conversation_on_message(
        session: AsyncSession, event: CloudEvent[FanEvent]
    ) -> None:
        await service.receive_message(session, event, deps=deps)

    async def record_delivery(session: AsyncSession, event: CloudEvent[FanEvent]) -> None:
        await service.delivery_reported(session, event, deps=deps)

    async def keep_fan_standing(session: AsyncSession, event: CloudEvent[ProfileUpdated]) -> None:
        await service.standing_updated(session, event, deps=deps)

    return {
        MessageReceived: open_conversation_on_message,
        CommentCreated: open_conversation_on_message,
        ReplyDelivered: record_delivery,
        ReplyFailed: record_delivery,
        ProfileUpdated: keep_fan_standing,
    }
