"""ingest: outbound replies and their delivery state

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "outbound_replies",
        sa.Column("reply_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("platform_message_id", sa.String(200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("reply_id", name="pk_outbound_replies"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_outbound_replies_due", "outbound_replies", ["next_attempt_at"], schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("outbound_replies", schema=SCHEMA)
