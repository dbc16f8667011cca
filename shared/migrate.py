"""Alembic, per service: each service has its own ``migrations/`` folder, schema and version table.

``python -m shared.migrate`` upgrades every service to head; ``python -m shared.migrate scoring``
one of them; ``python -m shared.migrate --revision scoring "add tiers"`` autogenerates a revision.
"""

import argparse
import asyncio
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

SERVICES = ("ingest", "scoring", "responder", "coupons")
SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, services: tuple[str, ...] = SERVICES) -> None:
    """Synchronous (Alembic's API is); from async code call it through `asyncio.to_thread`."""
    for service in services:
        command.upgrade(alembic_config(service, database_url), "head")


def run_env(context: EnvironmentContext | ModuleType, metadata: MetaData) -> None:
    """The body of every service's ``env.py``."""
    url = context.config.attributes["database_url"]
    asyncio.run(_run_online(url, context, metadata))


async def _run_online(
    url: str, context: EnvironmentContext | ModuleType, metadata: MetaData
) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{metadata.schema}"'))
            await connection.commit()
            await connection.run_sync(_run_migrations, context, metadata)
    finally:
        await engine.dispose()


def _run_migrations(
    connection: Connection, context: EnvironmentContext | ModuleType, metadata: MetaData
) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=metadata.schema,
        include_schemas=False,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_infrastructure_tables(schema: str) -> None:
    """Migration step: the idempotent-consumer and outbox tables (see `shared.db`)."""
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=schema,
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
        schema=schema,
    )


def main(argv: list[str] | None = None) -> None:
    from shared.settings import SHARED_ENV_PREFIX

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("services", nargs="*", default=list(SERVICES))
    parser.add_argument("--revision", metavar="MESSAGE", help="autogenerate a revision")
    parser.add_argument("--database-url", help=f"default: ${SHARED_ENV_PREFIX}DATABASE_URL")
    args = parser.parse_args(argv)
    url = args.database_url or _database_url_from_env()
    if args.revision:
        for service in args.services:
            command.revision(alembic_config(service, url), args.revision, autogenerate=True)
        return
    upgrade(url, tuple(args.services))
    print(f"migrated: {', '.join(args.services)}")  # noqa: T201


def _database_url_from_env() -> str:
    from pydantic import SecretStr
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class DatabaseSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="SCRM_", extra="ignore")
        database_url: SecretStr

    return DatabaseSettings().database_url.get_secret_value()


if __name__ == "__main__":
    main()
