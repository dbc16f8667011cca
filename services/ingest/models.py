from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.ingest.domain import ReplyStatus
from shared.contracts import Platform
from shared.db import service_metadata

SCHEMA = "ingest"
metadata, infrastructure = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


class ReceivedEvent(Base):
    """An event ingest has handed to Kafka: a platform's retry of it produces nothing new."""

    __tablename__ = "received_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class SeenSignature(Base):
    """A signature that does not cover the body (WeChat's plain mode, Weibo), with the body it
    first came with: within its timestamp window it carries that body only."""

    __tablename__ = "seen_signatures"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    signature: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))  # hex
    seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


class OutboundReply(Base):
    """An agent's reply on its way out: sent, retried with backoff, or given up on."""

    __tablename__ = "outbound_replies"
    __table_args__ = (
        Index("ix_outbound_replies_due", "next_attempt_at", postgresql_where="status = 'pending'"),
    )

    reply_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[Platform] = mapped_column(String(32))  # from a validated ReplyRequested
    account: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ReplyStatus] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BrandAccountRow(Base):
    """A brand account configured through the admin API (the accounts file is read-only)."""

    __tablename__ = "brand_accounts"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    entry: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the accounts-file entry, secrets too
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
