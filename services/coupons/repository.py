"""All SQL of coupons."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import Order


async def save_order_status(
    session: AsyncSession, *, account: str, order_id: str, fan_key: str, amount_cents: int,
    currency: str, status: str, at: datetime,
) -> Order:  # fmt: skip
    """A refund that arrives before its payment still leaves the order refunded."""
    moment = {"paid_at": at} if status == "paid" else {"refunded_at": at}
    new = insert(Order).values(
        account=account, order_id=order_id, fan_key=fan_key, amount_cents=amount_cents,
        currency=currency, status=status, **moment,
    )  # fmt: skip
    table = Order.__table__
    keep_refund = table.c.status if status == "paid" else new.excluded.status
    upsert = new.on_conflict_do_update(
        index_elements=[table.c.account, table.c.order_id],
        set_={"status": keep_refund, **{k: new.excluded[k] for k in moment}},
    ).returning(Order)
    return (await session.scalars(upsert)).one()


async def get_order(session: AsyncSession, *, account: str, order_id: str) -> Order | None:
    return await session.scalar(
        select(Order).where(Order.account == account, Order.order_id == order_id)
    )
