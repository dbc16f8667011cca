"""scoring: fan profiles, processed events, outbox

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
SCHEMA = "scoring"


def upgrade() -> None:
    create_infrastructure_tables(SCHEMA)
    op.create_table(
        "fan_profiles",
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("interaction_count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("fan_key", name="pk_fan_profiles"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("fan_profiles", schema=SCHEMA)
    op.drop_table("outbox_messages", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
