"""SQL of packets whose unclaimed money goes back to the budget: the packets due, the mark
that makes a return happen once, and the unclaimed shares moved out of reach of claims."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import Packet


async def due_packets(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    """Packets whose window closed and whose money has not gone back, oldest first; those
    another sweeper holds are skipped (`FOR NO KEY UPDATE SKIP LOCKED`, which no claim waits
    on: claims never write the packet's row)."""
    query = (
        select(Packet.id)
        .where(Packet.returned_at.is_(None), Packet.claim_ends_at <= now)
        .order_by(Packet.claim_ends_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return (await session.scalars(query)).all()


async def packets_of_order(
    session: AsyncSession, *, account: str, order_id: str
) -> Sequence[uuid.UUID]:
    """The order's packets whose money has not gone back."""
    query = select(Packet.id).where(
        Packet.account == account, Packet.order_id == order_id, Packet.returned_at.is_(None)
    )
    return (await session.scalars(query.order_by(Packet.id))).all()


async def mark_returned(
    session: AsyncSession, packet_id: uuid.UUID, *, reason: str, now: datetime
) -> Packet | None:
    """Mark the packet's money as going back, if nobody did: the packet, or None. The
    condition on `returned_at IS NULL` makes it happen once, whoever races."""
    statement = (
        update(Packet)
        .where(Packet.id == packet_id, Packet.returned_at.is_(None))
        .values(returned_at=now, return_reason=reason)
        .returning(Packet)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


_MOVE_UNCLAIMED = text("""
    WITH gone AS (
        DELETE FROM coupons.packet_shares
        WHERE packet_id = :packet_id AND claimed_by IS NULL
        RETURNING packet_id, seq, amount_cents
    ), kept AS (
        INSERT INTO coupons.returned_shares (packet_id, seq, amount_cents, returned_at)
        SELECT packet_id, seq, amount_cents, :now FROM gone
    )
    SELECT coalesce(sum(amount_cents), 0) FROM gone
""")


async def move_unclaimed(session: AsyncSession, packet_id: uuid.UUID, *, now: datetime) -> int:
    """Move the packet's unclaimed shares to `returned_shares`; the cents they held. A claim in
    flight that took a share holds it locked: the delete waits for it and leaves the share if
    the claim commits. A claim that comes after finds no share to take."""
    moved = await session.scalar(_MOVE_UNCLAIMED, {"packet_id": packet_id, "now": now})
    return int(moved or 0)


async def set_returned_cents(session: AsyncSession, packet: Packet, cents: int) -> None:
    await session.execute(update(Packet).where(Packet.id == packet.id).values(returned_cents=cents))
    packet.returned_cents = cents
