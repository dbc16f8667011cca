from alembic import context

from services.ingest.models import metadata
from shared.migrate import run_env

run_env(context, metadata)
