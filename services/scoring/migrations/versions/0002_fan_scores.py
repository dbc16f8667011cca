"""scoring: the model's state and scores on fan profiles; brands' cut points

Revision ID: 0002
Revises: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "scoring"
SORTABLE = ("priority", "wallet", "social", "engagement_numerator", "influence")


def _profile_columns() -> list[sa.Column[Any]]:
    def zero(name: str, kind: sa.types.TypeEngine[Any]) -> sa.Column[Any]:
        return sa.Column(name, kind, nullable=False, server_default="0")

    def text(name: str, default: str) -> sa.Column[Any]:
        return sa.Column(name, sa.String(16), nullable=False, server_default=default)

    return [
        sa.Column("first_active_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", JSONB(), nullable=False, server_default="{}"),
        zero("engagement_numerator", sa.Numeric()),
        zero("engagement", sa.Numeric(14, 2)),
        zero("influence", sa.Numeric(10, 2)),
        zero("wallet", sa.Integer()),
        zero("social", sa.Integer()),
        zero("priority", sa.Integer()),
        text("tier", "silent"),
        text("role", "consumer"),
        sa.Column("lifecycle", sa.String(16), nullable=True),
        sa.Column("tags", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("components", JSONB(), nullable=False, server_default="{}"),
        zero("paid_orders", sa.Integer()),
        zero("monetary_cents", sa.BigInteger()),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for column in _profile_columns():
        op.add_column("fan_profiles", column, schema=SCHEMA)
    for name in SORTABLE:
        op.create_index(
            f"ix_fan_profiles_account_{name}",
            "fan_profiles",
            ["account", name, "fan_key"],
            schema=SCHEMA,
        )
    op.create_index(
        "ix_fan_profiles_lifecycle_last_active",
        "fan_profiles",
        ["lifecycle", "last_active_at"],
        schema=SCHEMA,
    )
    op.create_table(
        "brand_cut_points",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("tier_occasional", sa.Numeric(), nullable=True),
        sa.Column("tier_frequent", sa.Numeric(), nullable=True),
        sa.Column("tier_leader", sa.Numeric(), nullable=True),
        sa.Column("wallet", JSONB(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "account", name="pk_brand_cut_points"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("brand_cut_points", schema=SCHEMA)
    op.drop_index("ix_fan_profiles_lifecycle_last_active", "fan_profiles", schema=SCHEMA)
    for name in SORTABLE:
        op.drop_index(f"ix_fan_profiles_account_{name}", "fan_profiles", schema=SCHEMA)
    for column in reversed(_profile_columns()):
        op.drop_column("fan_profiles", column.name, schema=SCHEMA)
