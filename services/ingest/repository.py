"""All SQL of ingest."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import OutboundReply, ReceivedEvent
from shared.contracts import ReplyRequested


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


async def queue_reply(session: AsyncSession, reply: ReplyRequested, *, now: datetime) -> bool:
    """Queue a reply for sending; False when this reply id is already queued (a redelivery)."""
    queued = await session.scalars(
        insert(OutboundReply)
        .values(
            reply_id=reply.reply_id,
            platform=reply.platform,
            account=reply.account,
            user_id=reply.user_id,
            text=reply.text,
            in_reply_to=reply.in_reply_to,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing()
        .returning(OutboundReply.reply_id)
    )
    return queued.first() is not None


async def lock_due_replies(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[OutboundReply]:
    """Pending replies whose time has come, locked for this transaction (other replicas skip)."""
    rows = await session.scalars(
        select(OutboundReply)
        .where(OutboundReply.status == "pending", OutboundReply.next_attempt_at <= now)
        .order_by(OutboundReply.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def get_reply(session: AsyncSession, reply_id: str) -> OutboundReply | None:
    return await session.get(OutboundReply, reply_id)
