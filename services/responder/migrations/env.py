from alembic import context

from services.responder.models import metadata
from shared.migrate import run_env

run_env(context, metadata)
