"""SQL of claims: the shares a claim takes, the claims, their coupons, daily counters,
referrals, and what a packet's page shows.

A claim takes one unclaimed share of its packet with `FOR UPDATE SKIP LOCKED`, so concurrent
claims of one packet each take a different share and none waits on the packet's row."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import (
    Claim,
    ClaimCounter,
    Coupon,
    Order,
    Packet,
    PacketShare,
    Referral,
)


async def packet_by_code(session: AsyncSession, share_code: str) -> Packet | None:
    return await session.scalar(select(Packet).where(Packet.share_code == share_code))


async def packet_with_claim(
    session: AsyncSession, *, share_code: str, fan_key: str
) -> tuple[Packet, tuple[Claim, Coupon] | None] | None:
    """The packet of the code, with the fan's claim of it and its coupon if they claimed."""
    query = (
        select(Packet, Claim, Coupon)
        .outerjoin(Claim, and_(Claim.packet_id == Packet.id, Claim.fan_key == fan_key))
        .outerjoin(Coupon, Coupon.claim_id == Claim.id)
        .where(Packet.share_code == share_code)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    packet, claim, coupon = row
    return packet, (claim, coupon) if claim is not None else None


async def has_unclaimed(session: AsyncSession, packet_id: uuid.UUID) -> bool:
    """Whether a share is unclaimed as far as committed claims go (those in flight count as
    not claimed yet: they may roll back)."""
    query = select(
        exists().where(PacketShare.packet_id == packet_id, PacketShare.claimed_by.is_(None))
    )
    return bool(await session.scalar(query))


async def packets_of_order(
    session: AsyncSession, *, account: str, order_id: str
) -> Sequence[Packet]:
    query = select(Packet).where(Packet.account == account, Packet.order_id == order_id)
    return (await session.scalars(query.order_by(Packet.issued_at, Packet.id))).all()


async def claim_of(
    session: AsyncSession, *, packet_id: uuid.UUID, fan_key: str
) -> tuple[Claim, Coupon] | None:
    row = (
        await session.execute(
            select(Claim, Coupon)
            .join(Coupon, Coupon.claim_id == Claim.id)
            .where(Claim.packet_id == packet_id, Claim.fan_key == fan_key)
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _take(*, wait: bool) -> Any:
    skip = "" if wait else " SKIP LOCKED"
    return text(f"""
        WITH chosen AS (
            SELECT seq FROM coupons.packet_shares
            WHERE packet_id = :packet_id AND claimed_by IS NULL
            ORDER BY seq LIMIT 1 FOR UPDATE{skip}
        )
        UPDATE coupons.packet_shares AS s SET claimed_by = :fan_key, claimed_at = :now
        FROM chosen WHERE s.packet_id = :packet_id AND s.seq = chosen.seq
        RETURNING s.seq, s.amount_cents
    """)  # noqa: S608 (two constant texts)


_TAKE_FREE, _TAKE_WAITING = _take(wait=False), _take(wait=True)


async def take_share(
    session: AsyncSession, *, packet_id: uuid.UUID, fan_key: str, now: datetime
) -> tuple[int, int] | None:
    """(seq, amount) of the share taken for `fan_key`; None when every share is claimed.

    First a share no other claim holds. When every unclaimed share is held by claims still in
    flight, which may yet roll back, the packet is not empty: wait for them, in share order,
    and take the first one they leave unclaimed; only when none is left is the answer None."""
    values = {"packet_id": packet_id, "fan_key": fan_key, "now": now}
    for statement in (_TAKE_FREE, _TAKE_WAITING):
        taken = (await session.execute(statement, values)).first()
        if taken is not None:
            return int(taken.seq), int(taken.amount_cents)
    return None


async def release_share(session: AsyncSession, *, packet_id: uuid.UUID, seq: int) -> None:
    """Give back a share this transaction took (its claim lost to the fan's other claim)."""
    await session.execute(
        update(PacketShare)
        .where(PacketShare.packet_id == packet_id, PacketShare.seq == seq)
        .values(claimed_by=None, claimed_at=None)
    )


async def insert_claim(session: AsyncSession, values: dict[str, Any]) -> Claim | None:
    """The claim, or None when the fan has one of the packet already (this waits for a
    transaction inserting one to end)."""
    statement = (
        insert(Claim)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["packet_id", "fan_key"])
        .returning(Claim)
    )
    return (await session.scalars(statement)).one_or_none()


async def count_claim(
    session: AsyncSession, *, campaign_id: uuid.UUID, fan_key: str, day: date, cap: int
) -> bool:
    """Count one more claim of the fan's day; False (nothing counted) at the cap."""
    new = insert(ClaimCounter).values(campaign_id=campaign_id, fan_key=fan_key, day=day, claims=1)
    counted = await session.execute(
        new.on_conflict_do_update(
            index_elements=["campaign_id", "fan_key", "day"],
            set_={"claims": ClaimCounter.claims + 1},
            where=ClaimCounter.claims < cap,
        ).returning(ClaimCounter.claims)
    )
    return counted.first() is not None


async def insert_coupon(session: AsyncSession, values: dict[str, Any]) -> Coupon:
    return (await session.scalars(insert(Coupon).values(**values).returning(Coupon))).one()


async def refer(session: AsyncSession, values: dict[str, Any]) -> None:
    """Record who referred the fan to the campaign, unless someone did first."""
    await session.execute(insert(Referral).values(**values).on_conflict_do_nothing())


async def ordered_before(
    session: AsyncSession, *, fan_keys: list[str], accounts: list[str]
) -> bool:
    """Whether any of the identities paid an order on any of the accounts."""
    query = select(
        exists().where(
            Order.fan_key.in_(fan_keys), Order.account.in_(accounts), Order.paid_at.is_not(None)
        )
    )
    return bool(await session.scalar(query))


async def claims_of_packet(session: AsyncSession, packet_id: uuid.UUID) -> Sequence[Claim]:
    query = select(Claim).where(Claim.packet_id == packet_id).order_by(Claim.id)
    return (await session.scalars(query)).all()


async def shares_of_packet(session: AsyncSession, packet_id: uuid.UUID) -> Sequence[PacketShare]:
    query = select(PacketShare).where(PacketShare.packet_id == packet_id)
    return (await session.scalars(query.order_by(PacketShare.seq))).all()
