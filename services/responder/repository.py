"""All SQL of responder."""

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.responder.models import Conversation


async def note_inbound(
    session: AsyncSession, *, fan_key: str, platform: str, account: str, received_at: datetime
) -> Conversation:
    """Open the fan's conversation, or add the message to the one already open."""
    table = Conversation.__table__
    new = insert(Conversation).values(
        id=uuid.uuid4(), fan_key=fan_key, platform=platform, account=account, status="open",
        opened_at=received_at, last_inbound_at=received_at, unanswered_count=1,
    )  # fmt: skip
    upsert = new.on_conflict_do_update(
        index_elements=[table.c.fan_key],
        index_where=text("status = 'open'"),
        set_={
            "unanswered_count": table.c.unanswered_count + 1,
            "last_inbound_at": func.greatest(table.c.last_inbound_at, new.excluded.last_inbound_at),
        },
    ).returning(Conversation)
    return (await session.scalars(upsert)).one()


async def list_open(session: AsyncSession, *, limit: int) -> list[Conversation]:
    """Waiting longest first."""
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.status == "open")
        .order_by(Conversation.last_inbound_at)
        .limit(limit)
    )
    return list(rows)
