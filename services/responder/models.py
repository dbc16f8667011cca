import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata

SCHEMA = "responder"
metadata, infrastructure = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


class Conversation(Base):
    """One fan's thread with one brand account: opened by the fan's first message, resolved by
    an agent, opened again by the next message (`sla.conversation` says what each step does)."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("uq_conversations_fan_thread", "fan_key", "thread_key", unique=True),
        Index("ix_conversations_status_awaiting_since", "status", "awaiting_since"),
        Index(
            "ix_conversations_queue", "queue_due", "awaiting_since",
            postgresql_where=text("status = 'open' AND assignee_id IS NULL"),
        ),
        Index("ix_conversations_assignee_id", "assignee_id"),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    fan_key: Mapped[str] = mapped_column(String(400))
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(200))
    thread_key: Mapped[str] = mapped_column(String(1000), server_default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_inbound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unanswered_count: Mapped[int] = mapped_column(default=0)
    answered: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    awaiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_failed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Routing: who holds it, who held it last (preferred next time), and its place in the queue
    # (`routing.queue_due`: its reply deadline brought forward by the fan's priority).
    assignee_id: Mapped[str | None] = mapped_column(String(64))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_agent_id: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(server_default="0")
    language: Mapped[str | None] = mapped_column(String(35))  # of the fan's latest message
    queue_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConversationMessage(Base):
    """A fan's message in, or an agent's reply out (with what ingest said of its delivery)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        Index("uq_conversation_messages_direction_ref", "direction", "ref", unique=True),
        Index("ix_conversation_messages_conversation_at", "conversation_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    ref: Mapped[str] = mapped_column(String(200))  # the event's id in, the reply's id out
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message_type: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(String(200))
    delivery: Mapped[str | None] = mapped_column(String(16))  # requested, delivered, failed
    delivery_error: Mapped[str | None] = mapped_column(Text)


class SlaClock(Base):
    """One target's clock of a conversation (`sla.clock.TargetClock`), and how it ended.
    `deadline` and `warning_at` are kept for the timers to find (None while paused)."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index(
            "uq_sla_clocks_running_target", "conversation_id", "target", unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index(
            "ix_sla_clocks_deadline", "deadline",
            postgresql_where=text("ended_at IS NULL AND NOT breached AND deadline IS NOT NULL"),
        ),
        Index(
            "ix_sla_clocks_warning_at", "warning_at",
            postgresql_where=text("ended_at IS NULL AND NOT warned AND warning_at IS NOT NULL"),
        ),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    target: Mapped[str] = mapped_column(String(16))
    policy_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    budget_seconds: Mapped[float] = mapped_column(Float)
    warning_seconds: Mapped[float] = mapped_column(Float)
    hours: Mapped[dict[str, object] | None] = mapped_column(JSONB)  # None: always open
    paused_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    paused_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_for: Mapped[str | None] = mapped_column(String(16))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warning_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(16))  # met, late, cancelled
    latency_seconds: Mapped[float | None] = mapped_column(Float)
    reply_id: Mapped[str | None] = mapped_column(String(200))


class FanStanding(Base):
    """What responder knows of a fan from scoring (`scrm.profiles.v1`): what policies match."""

    __tablename__ = "fan_standings"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int]
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    person_key: Mapped[str | None] = mapped_column(String(400))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaPolicies(Base):
    """The SLA policies in force, as one ordered document (`sla.policy.PolicySet`): replaced
    whole through the admin API, each replacement a new version."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    policies: Mapped[list[dict[str, object]]] = mapped_column(JSONB)
    version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(200))


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Agent(Base):
    """Someone who answers fans: what they can take (capacity per platform, `*` for any other;
    skills: languages, platforms, VIPs), whether they are there (presence from heartbeats), and
    how they sign in (a token, kept hashed)."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), server_default="agent")  # agent, admin
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    capacity: Mapped[dict[str, int]] = mapped_column(JSONB)
    languages: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    platforms: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    vip: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    presence: Mapped[str] = mapped_column(String(16), server_default="offline")
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lapsed_offers: Mapped[int] = mapped_column(server_default="0")


class Offer(Base):
    """A conversation offered to an agent (push routing): accepted, declined, or lapsed after
    its time; at most one pending per conversation and one per agent."""

    __tablename__ = "offers"
    __table_args__ = (
        Index("uq_offers_pending_conversation", "conversation_id", unique=True,
              postgresql_where=text("status = 'pending'")),
        Index("uq_offers_pending_agent", "agent_id", unique=True,
              postgresql_where=text("status = 'pending'")),
        Index("ix_offers_expires_at", "expires_at", postgresql_where=text("status = 'pending'")),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
