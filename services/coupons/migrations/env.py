from alembic import context

from services.coupons.models import metadata
from shared.migrate import run_env

run_env(context, metadata)
