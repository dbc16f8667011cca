"""responder's Kafka subscribers, in one registry."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import service
from shared.consumer import HandlerRegistry
from shared.contracts import CommentCreated, FanEvent, MessageReceived
from shared.events import CloudEvent


async def open_conversation_on_message(session: AsyncSession, event: CloudEvent[FanEvent]) -> None:
    await service.open_conversation(session, event.data)


REGISTRY: HandlerRegistry = {
    MessageReceived: open_conversation_on_message,
    CommentCreated: open_conversation_on_message,
}
