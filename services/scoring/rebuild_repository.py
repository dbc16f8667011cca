"""The rebuild's SQL, kept apart from `repository.py` (the live path's): a fresh schema holding
scoring's tables, every profile a page at a time, and the swap of that schema for the live one.

Every table of scoring (`models.metadata`: profiles, cut points, labels, friends' pairs,
processed events, outbox) is declared in the ``scoring`` schema, so SQLAlchemy's
``schema_translate_map`` (`translated`) sends every statement of the live code to another schema
without a second copy of any of them.
"""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import (
    MetaData,
    Table,
    column,
    delete,
    exists,
    func,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateSchema, DropSchema
from sqlalchemy.sql.expression import TableClause

from services.scoring.models import SCHEMA, infrastructure, metadata

PREVIOUS = f"{SCHEMA}_previous"
REBUILD_LOCK = 0x5C0_0002  # advisory lock key: one rebuild at a time (the refresher's is ..01)
# The rebuild drops the schema it is given: only a name of scoring's own, never the live one,
# the previous one or another service's, can be given.
_REBUILD_SCHEMA = re.compile(r"^scoring_[a-z0-9_]{1,40}$")
# The order the live path takes them in (the consumer claims, reads and keeps the identity
# graph, locks profiles, keeps friends' pairs, reads cut points, writes the outbox; the
# refresher and the API take a subsequence), so that the swap waiting for them cannot deadlock
# with it.
_LIVE_TABLES = (
    "processed_events", "identity_keys", "identity_merges", "identity_unmerges", "fan_profiles",
    "referral_friends", "brand_cut_points", "manual_labels", "outbox_messages",
)  # fmt: skip
# How long the swap waits for a live transaction to end; meanwhile new ones queue behind it.
SWAP_LOCK_TIMEOUT = "10s"
_OUTBOX_COLUMNS = ("topic", "key", "value", "headers", "created_at")


class RebuildRefused(RuntimeError):
    """Going on would be unsafe; nothing live was changed."""


def rebuild_schema(name: str) -> str:
    """`name`, if the rebuild may drop and fill a schema of that name."""
    if not _REBUILD_SCHEMA.fullmatch(name) or name == PREVIOUS:
        raise ValueError(f"not a rebuild schema: {name!r} (scoring_<a-z0-9_>, not {PREVIOUS})")
    return name


def translated(engine: AsyncEngine, schema: str) -> AsyncEngine:
    """`engine` (sharing its pool) with scoring's tables read and written in `schema`."""
    return engine.execution_options(schema_translate_map={SCHEMA: schema})


@asynccontextmanager
async def one_rebuild_at_a_time(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the rebuild's advisory lock for the block: a second rebuild would drop the schema
    this one is filling, so it is refused meanwhile."""
    async with engine.connect() as connection:
        taken = await connection.scalar(select(func.pg_try_advisory_lock(REBUILD_LOCK)))
        await connection.commit()  # a session's lock: held without holding a transaction open
        if not taken:
            raise RebuildRefused("another rebuild is running against this database")
        try:
            yield
        finally:
            await connection.invalidate()  # its connection closed, the lock is released


async def recreate_schema(connection: AsyncConnection, schema: str) -> None:
    """Drop `schema` and create it again, holding scoring's tables, empty. Created from the
    models, which describe the tables as the migrations leave them (indexes and constraint
    names included), so that a swap puts the same tables in place."""
    await connection.execute(DropSchema(schema, cascade=True, if_exists=True))
    await connection.execute(CreateSchema(schema))
    await connection.execution_options(schema_translate_map={SCHEMA: schema})
    await connection.run_sync(metadata.create_all)


async def live_version(connection: AsyncConnection) -> str | None:
    """The Alembic revision the live schema is at."""
    version = _version_table(SCHEMA)
    found: str | None = await connection.scalar(select(version.c.version_num))
    return found


async def lock_live_tables(connection: AsyncConnection) -> None:
    """Take the live tables until the transaction ends: the consumer, the refresher and the API
    wait meanwhile. Refused after `SWAP_LOCK_TIMEOUT` if a live transaction holds one."""
    await connection.execute(text(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
    names = ", ".join(f"{SCHEMA}.{name}" for name in _LIVE_TABLES)
    await connection.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))


async def claims_missing_from(connection: AsyncConnection, schema: str, *, consumer: str) -> int:
    """How many events the live `consumer` applied that `schema`'s tables have not."""
    live = infrastructure.processed_events
    rebuilt = _in_schema(live, schema)
    applied_there = exists().where(
        rebuilt.c.consumer == live.c.consumer, rebuilt.c.event_id == live.c.event_id
    )
    missing = select(func.count()).select_from(live)
    found = await connection.scalar(missing.where(live.c.consumer == consumer, ~applied_there))
    return int(found or 0)


async def swap_schemas(connection: AsyncConnection, schema: str) -> None:
    """Put `schema` in place of the live one, which becomes `PREVIOUS` (an older one is dropped).
    Its outbox then holds the live outbox's unsent rows, and nothing else: the relay sends
    those, and nothing the rebuild might have written. The migration version is carried over
    too, so that Alembic still knows where the schema stands."""
    live_outbox, outbox = infrastructure.outbox, _in_schema(infrastructure.outbox, schema)
    unsent = select(*(live_outbox.c[name] for name in _OUTBOX_COLUMNS)).order_by(live_outbox.c.id)
    await connection.execute(delete(outbox))
    await connection.execute(insert(outbox).from_select(_OUTBOX_COLUMNS, unsent))
    await connection.execute(
        text(f"CREATE TABLE {schema}.alembic_version (LIKE {SCHEMA}.alembic_version INCLUDING ALL)")
    )
    version = select(_version_table(SCHEMA).c.version_num)
    await connection.execute(insert(_version_table(schema)).from_select(["version_num"], version))
    await connection.execute(DropSchema(PREVIOUS, cascade=True, if_exists=True))
    await connection.execute(text(f"ALTER SCHEMA {SCHEMA} RENAME TO {PREVIOUS}"))
    await connection.execute(text(f"ALTER SCHEMA {schema} RENAME TO {SCHEMA}"))


def _in_schema(live: Table, schema: str) -> Table:
    return live.to_metadata(MetaData(), schema=schema)


def _version_table(schema: str) -> TableClause:
    return table("alembic_version", column("version_num"), schema=schema)
