"""scoring: labels operators set on fans by hand

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "manual_labels",
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("tags", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("operator", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fan_key", name="pk_manual_labels"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("manual_labels", schema=SCHEMA)
