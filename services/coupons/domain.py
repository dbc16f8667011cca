"""Pure coupon logic, no I/O. Money is integer cents."""

from typing import Literal

from shared.contracts import OrderPaid, OrderRefunded

OrderStatus = Literal["paid", "refunded"]


def order_status(event: OrderPaid | OrderRefunded) -> OrderStatus:
    return "paid" if isinstance(event, OrderPaid) else "refunded"
