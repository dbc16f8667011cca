"""scoring: identities linked into persons, by identifiers their events carry and by operators

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "scoring"


def upgrade() -> None:
    op.add_column("fan_profiles", sa.Column("person_key", sa.String(400)), schema=SCHEMA)
    op.add_column("fan_profiles", sa.Column("person_state", JSONB), schema=SCHEMA)
    op.create_index(
        "ix_fan_profiles_person_key", "fan_profiles", ["person_key"], schema=SCHEMA,
        postgresql_where=sa.text("person_key IS NOT NULL"),
    )  # fmt: skip
    op.create_table(
        "identity_keys",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", "fan_key", name="pk_identity_keys"),
        schema=SCHEMA,
    )
    op.create_index("ix_identity_keys_fan_key", "identity_keys", ["fan_key"], schema=SCHEMA)
    op.create_table(
        "identity_merges",
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("other_fan_key", sa.String(400), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(200)),
        sa.PrimaryKeyConstraint("fan_key", "other_fan_key", name="pk_identity_merges"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_identity_merges_other_fan_key", "identity_merges", ["other_fan_key"], schema=SCHEMA
    )
    op.create_table(
        "identity_unmerges",
        sa.Column("fan_key", sa.String(400), nullable=False),
        sa.Column("unmerged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(200)),
        sa.PrimaryKeyConstraint("fan_key", name="pk_identity_unmerges"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("identity_unmerges", schema=SCHEMA)
    op.drop_table("identity_merges", schema=SCHEMA)
    op.drop_table("identity_keys", schema=SCHEMA)
    op.drop_index("ix_fan_profiles_person_key", "fan_profiles", schema=SCHEMA)
    op.drop_column("fan_profiles", "person_state", schema=SCHEMA)
    op.drop_column("fan_profiles", "person_key", schema=SCHEMA)
