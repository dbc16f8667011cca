"""responder: conversations, processed events, outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.migrate import create_infrastructure_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "responder"


def upgrade() -> None:
    create_infrastructure_tables(SCHEMA)
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unanswered_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_conversations_open_fan", "conversations", ["fan_key"], unique=True, schema=SCHEMA,
        postgresql_where=sa.text("status = 'open'"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("conversations", schema=SCHEMA)
    op.drop_table("outbox_messages", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
