"""responder's rules. Takes the session first; flushes, never commits."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.responder import metrics, repository
from services.responder.domain import needs_answer
from services.responder.models import Conversation
from shared.contracts import FanEvent
from shared.db import after_commit


async def open_conversation(session: AsyncSession, event: FanEvent) -> Conversation | None:
    if not needs_answer(event):
        return None
    after_commit(session, metrics.INBOUND_MESSAGES.inc)
    return await repository.note_inbound(
        session, fan_key=event.fan_key, platform=event.platform, account=event.account,
        received_at=event.occurred_at,
    )  # fmt: skip


async def open_conversations(session: AsyncSession, *, limit: int) -> list[Conversation]:
    return await repository.list_open(session, limit=limit)
