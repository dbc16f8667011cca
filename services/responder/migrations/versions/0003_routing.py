"""responder: agents and teams, and conversations' places in the routing queue

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "responder"
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        schema=SCHEMA,
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, server_default="agent"),
        sa.Column("team_id", sa.String(64)),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("capacity", JSONB, nullable=False),
        sa.Column("languages", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("platforms", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("presence", sa.String(16), nullable=False, server_default="offline"),
        sa.Column("heartbeat_at", _WHEN),
        sa.Column("lapsed_offers", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.ForeignKeyConstraint(
            ["team_id"], [f"{SCHEMA}.teams.id"], name="fk_agents_team_id_teams"
        ),
        sa.UniqueConstraint("token_sha256", name="uq_agents_token_sha256"),
        schema=SCHEMA,
    )
    _offers()
    op.add_column(
        "fan_standings",
        sa.Column("tags", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        schema=SCHEMA,
    )
    for column in (
        sa.Column("assignee_id", sa.String(64)),
        sa.Column("assigned_at", _WHEN),
        sa.Column("last_agent_id", sa.String(64)),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("language", sa.String(35)),
        sa.Column("queue_due", _WHEN),
    ):
        op.add_column("conversations", column, schema=SCHEMA)
    op.create_index(
        "ix_conversations_queue", "conversations", ["queue_due", "awaiting_since"], schema=SCHEMA,
        postgresql_where=sa.text("status = 'open' AND assignee_id IS NULL"),
    )  # fmt: skip
    op.create_index("ix_conversations_assignee_id", "conversations", ["assignee_id"], schema=SCHEMA)


def _offers() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("offered_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("decided_at", _WHEN),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            [f"{SCHEMA}.conversations.id"],
            name="fk_offers_conversation_id_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], [f"{SCHEMA}.agents.id"], name="fk_offers_agent_id_agents"
        ),
        schema=SCHEMA,
    )
    pending = sa.text("status = 'pending'")
    op.create_index("uq_offers_pending_conversation", "offers", ["conversation_id"], unique=True,
                    schema=SCHEMA, postgresql_where=pending)  # fmt: skip
    op.create_index("uq_offers_pending_agent", "offers", ["agent_id"], unique=True,
                    schema=SCHEMA, postgresql_where=pending)  # fmt: skip
    op.create_index("ix_offers_expires_at", "offers", ["expires_at"], schema=SCHEMA,
                    postgresql_where=pending)  # fmt: skip


def downgrade() -> None:
    op.drop_column("fan_standings", "tags", schema=SCHEMA)
    op.drop_index("ix_conversations_assignee_id", "conversations", schema=SCHEMA)
    op.drop_index("ix_conversations_queue", "conversations", schema=SCHEMA)
    for column in ("queue_due", "language", "priority", "last_agent_id", "assigned_at",
                   "assignee_id"):  # fmt: skip
        op.drop_column("conversations", column, schema=SCHEMA)
    op.drop_table("offers", schema=SCHEMA)
    op.drop_table("agents", schema=SCHEMA)
    op.drop_table("teams", schema=SCHEMA)
