import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata

SCHEMA = "responder"
metadata, infrastructure = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


class Conversation(Base):
    """One fan's open thread with the brand on one channel, until an agent resolves it."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index(
            "uq_conversations_open_fan",
            "fan_key",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    fan_key: Mapped[str] = mapped_column(String(400))
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_inbound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unanswered_count: Mapped[int] = mapped_column(default=0)
