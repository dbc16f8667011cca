"""coupons' Kafka subscribers, in one registry."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import service
from shared.consumer import HandlerRegistry
from shared.contracts import OrderPaid, OrderRefunded
from shared.events import CloudEvent


async def record_order_payment(
    session: AsyncSession, event: CloudEvent[OrderPaid | OrderRefunded]
) -> None:
    await service.record_order(session, event.data)


REGISTRY: HandlerRegistry = {
    OrderPaid: record_order_payment,
    OrderRefunded: record_order_payment,
}
