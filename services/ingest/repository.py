"""All SQL of ingest."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import ReceivedEvent


async def claim_new_events(
    session: AsyncSession, event_ids: Sequence[str], *, platform: str, account: str
) -> set[str]:
    """Record the ids not seen before and return them; a concurrent claim of the same id waits
    for the first transaction and then finds it taken."""
    if not event_ids:
        return set()
    claimed = await session.scalars(
        insert(ReceivedEvent)
        .values([{"event_id": i, "platform": platform, "account": account} for i in event_ids])
        .on_conflict_do_nothing()
        .returning(ReceivedEvent.event_id)
    )
    return set(claimed)


async def forget_received_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(ReceivedEvent).where(ReceivedEvent.received_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
