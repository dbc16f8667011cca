"""ingest: seen signatures, so a signature that does not cover the body carries one body only

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("platform", "account", "signature", name="pk_seen_signatures"),
        schema=SCHEMA,
    )
    op.create_index("ix_seen_signatures_seen_at", "seen_signatures", ["seen_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("seen_signatures", schema=SCHEMA)
