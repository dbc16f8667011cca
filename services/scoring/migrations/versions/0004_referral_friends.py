"""scoring: the friends who claimed a share of each fan's red packets

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "referral_friends",
        sa.Column("referrer_fan_key", sa.String(400), nullable=False),
        sa.Column("friend_fan_key", sa.String(400), nullable=False),
        sa.PrimaryKeyConstraint("referrer_fan_key", "friend_fan_key", name="pk_referral_friends"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("referral_friends", schema=SCHEMA)
