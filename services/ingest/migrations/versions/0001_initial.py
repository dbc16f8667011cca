"""ingest: processed events, outbox

Revision ID: 0001
Revises:
"""

from alembic import op

from shared.migrate import create_infrastructure_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "ingest"


def upgrade() -> None:
    create_infrastructure_tables(SCHEMA)


def downgrade() -> None:
    op.drop_table("outbox_messages", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
