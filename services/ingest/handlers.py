"""ingest's Kafka subscribers, in one registry: replies to send out."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import repository
from shared.consumer import HandlerRegistry
from shared.contracts import ReplyRequested
from shared.events import CloudEvent


async def queue_reply_for_sending(session: AsyncSession, event: CloudEvent[ReplyRequested]) -> None:
    """Idempotent by reply id; the dispatcher picks it up once this transaction commits."""
    await repository.queue_reply(session, event.data, now=datetime.now(UTC))


REGISTRY: HandlerRegistry = {ReplyRequested: queue_reply_for_sending}
