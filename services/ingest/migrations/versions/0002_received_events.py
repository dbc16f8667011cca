"""ingest: received events, so platform retries produce no second event

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "received_events",
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_received_events"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_received_events_received_at", "received_events", ["received_at"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("received_events", schema=SCHEMA)
