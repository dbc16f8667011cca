from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata

SCHEMA = "scoring"
metadata, infrastructure = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


class FanProfile(Base):
    __tablename__ = "fan_profiles"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(200))
    interaction_count: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
