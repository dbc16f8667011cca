"""coupons' API models."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account: str
    order_id: str
    fan_key: str
    amount_cents: int
    currency: str
    status: str
    paid_at: datetime | None
    refunded_at: datetime | None
