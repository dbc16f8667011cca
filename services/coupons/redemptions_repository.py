"""SQL of redemptions. Every redemption and reversal locks its coupon's row first, so the uses
of one coupon happen one after the other, whatever their number."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import Coupon, Redemption


async def get_coupon(session: AsyncSession, code: str) -> Coupon | None:
    return await session.scalar(select(Coupon).where(Coupon.code == code))


async def lock_coupon(session: AsyncSession, *, code: str | None = None, coupon_id: int = 0) -> (
    Coupon | None
):  # fmt: skip
    """The coupon by code (or id), locked for a use or a reversal of a use."""
    where = Coupon.code == code if code is not None else Coupon.id == coupon_id
    query = select(Coupon).where(where).with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def redemption_by_key(
    session: AsyncSession, *, account: str, idempotency_key: str
) -> Redemption | None:
    return await session.scalar(
        select(Redemption).where(
            Redemption.account == account, Redemption.idempotency_key == idempotency_key
        )
    )


async def get_redemption(session: AsyncSession, redemption_id: uuid.UUID) -> Redemption | None:
    return await session.get(Redemption, redemption_id, populate_existing=True)


async def insert_redemption(session: AsyncSession, values: dict[str, Any]) -> Redemption | None:
    """The redemption, or None when the account used its idempotency key already."""
    statement = (
        insert(Redemption)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["account", "idempotency_key"])
        .returning(Redemption)
    )
    return (await session.scalars(statement)).one_or_none()


async def set_coupon_status(session: AsyncSession, coupon_id: int, status: str) -> None:
    await session.execute(update(Coupon).where(Coupon.id == coupon_id).values(status=status))


async def redemptions_of_order(
    session: AsyncSession, *, account: str, order_id: str
) -> Sequence[Redemption]:
    """The order's redemptions not reversed."""
    query = select(Redemption).where(
        Redemption.account == account, Redemption.order_id == order_id,
        Redemption.reversed_at.is_(None),
    )  # fmt: skip
    return (await session.scalars(query.order_by(Redemption.redeemed_at))).all()


async def mark_reversed(
    session: AsyncSession, redemption_id: uuid.UUID, *, reason: str, at: datetime
) -> Redemption | None:
    """Reverse the redemption; None when it was reversed already (only one reversal wins)."""
    reversed_ = await session.scalars(
        update(Redemption)
        .where(Redemption.id == redemption_id, Redemption.reversed_at.is_(None))
        .values(reversed_at=at, reversal=reason)
        .returning(Redemption)
        .execution_options(populate_existing=True)
    )
    return reversed_.one_or_none()
