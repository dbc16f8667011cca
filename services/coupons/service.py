"""coupons' rules. Takes the session first; flushes, never commits."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import metrics, repository
from services.coupons.domain import order_status
from services.coupons.models import Order
from shared.contracts import OrderPaid, OrderRefunded
from shared.db import after_commit


async def record_order(session: AsyncSession, event: OrderPaid | OrderRefunded) -> Order:
    status = order_status(event)
    after_commit(session, metrics.ORDERS.labels(status).inc)
    return await repository.save_order_status(
        session, account=event.account, order_id=event.order_id, fan_key=event.fan_key,
        amount_cents=event.amount_cents, currency=event.currency, status=status,
        at=event.occurred_at,
    )  # fmt: skip


async def get_order(session: AsyncSession, *, account: str, order_id: str) -> Order | None:
    return await repository.get_order(session, account=account, order_id=order_id)
