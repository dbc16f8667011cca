"""coupons: orders, processed events, outbox

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
SCHEMA = "coupons"


def upgrade() -> None:
    create_infrastructure_tables(SCHEMA)
    op.create_table(
        "orders",
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_cents >= 0", name="ck_orders_amount_not_negative"),
        sa.CheckConstraint("status IN ('paid', 'refunded')", name="ck_orders_known_status"),
        sa.PrimaryKeyConstraint("account", "order_id", name="pk_orders"),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_fan_key", "orders", ["fan_key"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("orders", schema=SCHEMA)
    op.drop_table("outbox_messages", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
