"""responder: conversations per fan and thread, their messages, SLA clocks, fans' standings and
the SLA policies in force

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "responder"
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    _conversations()
    _messages()
    _clocks()
    op.create_table(
        "fan_standings",
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(400)),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("fan_key", name="pk_fan_standings"),
        schema=SCHEMA,
    )
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policies", JSONB, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_sla_policies"),
        schema=SCHEMA,
    )


def _conversations() -> None:
    op.drop_index("uq_conversations_open_fan", "conversations", schema=SCHEMA)
    columns: list[sa.Column[object]] = [
        sa.Column("thread_key", sa.String(1000), nullable=False, server_default=""),
        sa.Column("answered", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("awaiting_since", _WHEN),
        sa.Column("last_reply_at", _WHEN),
        sa.Column("snoozed_until", _WHEN),
        sa.Column("resolved_at", _WHEN),
        sa.Column("delivery_failed", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    ]
    for column in columns:
        op.add_column("conversations", column, schema=SCHEMA)
    op.execute("UPDATE responder.conversations SET awaiting_since = opened_at")
    op.create_index(
        "uq_conversations_fan_thread", "conversations", ["fan_key", "thread_key"], unique=True,
        schema=SCHEMA,
    )  # fmt: skip
    op.create_index(
        "ix_conversations_status_awaiting_since", "conversations", ["status", "awaiting_since"],
        schema=SCHEMA,
    )  # fmt: skip


def _messages() -> None:
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("message_type", sa.String(16)),
        sa.Column("text", sa.Text()),
        sa.Column("agent_id", sa.String(200)),
        sa.Column("delivery", sa.String(16)),
        sa.Column("delivery_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_messages"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            [f"{SCHEMA}.conversations.id"],
            name="fk_conversation_messages_conversation_id_conversations",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_conversation_messages_direction_ref", "conversation_messages", ["direction", "ref"],
        unique=True, schema=SCHEMA,
    )  # fmt: skip
    op.create_index(
        "ix_conversation_messages_conversation_at", "conversation_messages",
        ["conversation_id", "at"], schema=SCHEMA,
    )  # fmt: skip


def _clocks() -> None:
    op.create_table(
        "sla_clocks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("budget_seconds", sa.Float(), nullable=False),
        sa.Column("warning_seconds", sa.Float(), nullable=False),
        sa.Column("hours", JSONB),
        sa.Column("paused_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("paused_since", _WHEN),
        sa.Column("paused_for", sa.String(16)),
        sa.Column("deadline", _WHEN),
        sa.Column("warning_at", _WHEN),
        sa.Column("warned", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("breached", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("ended_at", _WHEN),
        sa.Column("outcome", sa.String(16)),
        sa.Column("latency_seconds", sa.Float()),
        sa.Column("reply_id", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_sla_clocks"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            [f"{SCHEMA}.conversations.id"],
            name="fk_sla_clocks_conversation_id_conversations",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_sla_clocks_running_target", "sla_clocks", ["conversation_id", "target"], unique=True,
        schema=SCHEMA, postgresql_where=sa.text("ended_at IS NULL"),
    )  # fmt: skip
    op.create_index(
        "ix_sla_clocks_deadline", "sla_clocks", ["deadline"], schema=SCHEMA,
        postgresql_where=sa.text("ended_at IS NULL AND NOT breached AND deadline IS NOT NULL"),
    )  # fmt: skip
    op.create_index(
        "ix_sla_clocks_warning_at", "sla_clocks", ["warning_at"], schema=SCHEMA,
        postgresql_where=sa.text("ended_at IS NULL AND NOT warned AND warning_at IS NOT NULL"),
    )  # fmt: skip


def downgrade() -> None:
    for table in ("sla_policies", "fan_standings", "sla_clocks", "conversation_messages"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_index("ix_conversations_status_awaiting_since", "conversations", schema=SCHEMA)
    op.drop_index("uq_conversations_fan_thread", "conversations", schema=SCHEMA)
    for column in ("delivery_failed", "resolved_at", "snoozed_until", "last_reply_at",
                   "awaiting_since", "answered", "thread_key"):  # fmt: skip
        op.drop_column("conversations", column, schema=SCHEMA)
    op.create_index(
        "uq_conversations_open_fan", "conversations", ["fan_key"], unique=True, schema=SCHEMA,
        postgresql_where=sa.text("status = 'open'"),
    )  # fmt: skip
