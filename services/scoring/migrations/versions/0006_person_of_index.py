"""scoring: the person of each linked identity, read from an index alone

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "scoring"


def upgrade() -> None:
    # Every batch asks which of its fans are in a person. Through the primary key that read
    # each fan's row (a heap page per fan); this index holds only the identities in a person.
    op.create_index(
        "ix_fan_profiles_person_of", "fan_profiles", ["fan_key"], schema=SCHEMA,
        postgresql_include=["person_key"], postgresql_where=sa.text("person_key IS NOT NULL"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_fan_profiles_person_of", "fan_profiles", schema=SCHEMA)
