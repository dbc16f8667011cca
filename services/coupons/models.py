from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata

SCHEMA = "coupons"
metadata, infrastructure = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


class Order(Base):
    """The shop orders coupons has seen: what packets are issued for and referrals reward."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("status IN ('paid', 'refunded')", name="known_status"),
    )

    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fan_key: Mapped[str] = mapped_column(String(400), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
