"""The database base: one schema per service, a constraint naming convention, the two tables
every service has, ``processed_events`` (the idempotent consumer) and ``outbox_messages``, and
the transaction the edges (a request, a message) open."""

import asyncio
import functools
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, Pool, QueuePool
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.util import greenlet_spawn

from shared.logging import get_logger

log = get_logger(__name__)
_AFTER_COMMIT = "scrm_after_commit"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


@dataclass(frozen=True)
class InfrastructureTables:
    processed_events: Table
    outbox: Table


def service_metadata(schema: str) -> tuple[MetaData, InfrastructureTables]:
    """The MetaData of one service's schema, holding the shared infrastructure tables."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(200), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    outbox = Table(
        "outbox_messages",
        metadata,
        # An identity column, as the migration made it: tables created from this metadata (the
        # scoring rebuild's) then match the migrated ones, down to how ids are generated.
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", String(255), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return metadata, InfrastructureTables(processed_events=processed, outbox=outbox)


# A connection idle this long is pinged before it is handed out; one used more recently is
# trusted (a dead one then fails its statement, which invalidates the pool's connections).
PING_AFTER_IDLE_SECONDS = 2.0


def create_engine(database_url: str, *, pool_size: int = 20) -> AsyncEngine:
    """A pool of `pool_size` connections, opened as needed and then kept (none beyond: an
    overflow connection would be opened and closed on every use under load, each costing
    PostgreSQL a process), that checks a connection idle for a while is alive before handing it
    out.
    Its errors do not quote their parameters: they are a fan's data, and errors end up in logs
    and dead letters."""
    engine = create_async_engine(
        database_url, pool_size=pool_size, max_overflow=0, hide_parameters=True
    )
    _ping_when_idle(engine.sync_engine.pool, after=PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_when_idle(pool: Pool, *, after: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections idle `after` seconds or more only: its ping
    costs three round trips (BEGIN, an empty statement, ROLLBACK) on every checkout, more than
    many a request's own statements. A connection the server closed (a restart) is known
    without one: the driver saw the socket close. A connection that fails either check is
    replaced (the pool tries again on a `DisconnectionError`)."""

    def note_idle(_: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():  # the server closed it: no round trip
            raise DisconnectionError("the server closed the connection")
        if time.monotonic() - record.info.get("idle_since", 0.0) < after:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("the connection did not answer a ping") from exc

    event.listen(pool, "connect", note_idle)
    event.listen(pool, "checkin", note_idle)
    event.listen(pool, "checkout", ping_if_idle)


def asyncpg_dsn(database_url: str) -> str:
    """The DSN asyncpg itself takes, for a hot path that skips SQLAlchemy."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction, committed when the block ends and rolled back when it raises; what
    `after_commit` scheduled in it runs once the commit succeeded, and never otherwise."""
    async with sessionmaker() as session:
        session.info[_AFTER_COMMIT] = []
        async with session.begin():
            yield session
        for callback in session.info.pop(_AFTER_COMMIT):
            _run_committed(callback)


@dataclass(frozen=True)
class DriverTransaction:
    """A transaction on one of the pool's connections used through asyncpg alone
    (`driver_transaction`): its statements run on `connection`."""

    connection: asyncpg.Connection
    info: dict[str, Any]


Tx = AsyncSession | DriverTransaction  # what a hot path's statements run in


class NeedsSession(Exception):
    """A step of a driver transaction needs SQLAlchemy's session (`session_of`): the caller
    rolls it back and does the work again in a `transaction`."""


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[DriverTransaction]:
    """One transaction, as `transaction` opens, on a connection of the engine's pool used
    through asyncpg alone: for a hot path whose session cost more CPU than its statements (a
    claim: about 230 µs of the process's a transaction, make bench-coupons). Committed when the
    block ends, rolled back when it raises; `after_commit` callbacks run once it committed."""
    async with _turns_of(engine):
        pooled = await engine.raw_connection()
        driver = pooled.driver_connection
        if not isinstance(driver, asyncpg.Connection):
            raise TypeError(f"not an asyncpg connection: {driver!r}")
        tx = DriverTransaction(driver, {_AFTER_COMMIT: []})
        ended = False  # the transaction committed or rolled back: none is left on the connection
        try:
            transaction = driver.transaction()
            await transaction.start()
            try:
                yield tx
            except BaseException:
                await transaction.rollback()
                ended = True
                raise
            await transaction.commit()
            ended = True
        finally:  # back to the pool when clean; else dropped (a BEGIN, COMMIT or ROLLBACK that
            # failed or was cancelled may leave a transaction open, or asyncpg thinking so)
            clean = ended and not driver.is_closed() and not driver.is_in_transaction()
            await greenlet_spawn(pooled.close if clean else pooled.invalidate)
    for callback in tx.info.pop(_AFTER_COMMIT):
        _run_committed(callback)


_turns: weakref.WeakKeyDictionary[Pool, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _turns_of(engine: AsyncEngine) -> asyncio.Semaphore:
    """Driver transactions take the pool's connections in turn, first come first served (a
    fair semaphore of the pool's size). Waiting in the pool itself, a newcomer could take a
    connection handed back before the waiters woke, and some waited many times as long as
    the rest (make bench-coupons, 32 claimers for 20 connections: p99 88 ms, in turn 50)."""
    pool = engine.sync_engine.pool
    turns = _turns.get(pool)
    if turns is None:
        size = pool.size() if isinstance(pool, QueuePool) else 1
        turns = _turns[pool] = asyncio.Semaphore(size)
    return turns


async def connection_of(tx: Tx) -> asyncpg.Connection:
    """The asyncpg connection `tx`'s statements run on."""
    return tx.connection if isinstance(tx, DriverTransaction) else await driver_connection(tx)


def session_of(tx: Tx) -> AsyncSession:
    """`tx` as SQLAlchemy's session; NeedsSession when it is a driver transaction."""
    if isinstance(tx, DriverTransaction):
        raise NeedsSession
    return tx


def after_commit(session: Tx, callback: Callable[[], object]) -> None:
    """Run `callback` once `session`'s transaction committed: for an effect outside the database
    (a metric counted) that a rolled-back or retried attempt must not have."""
    callbacks: list[Callable[[], object]] | None = session.info.get(_AFTER_COMMIT)
    if callbacks is None:
        raise RuntimeError("after_commit needs a transaction opened by shared.db")
    callbacks.append(callback)


def _run_committed(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:  # the transaction committed: its caller must not see a failure
        log.exception("after-commit callback failed", callback=repr(callback))


async def claim_event(session: AsyncSession, table: Table, *, consumer: str, event_id: str) -> bool:
    """Record that `consumer` applies `event_id`; False when it already did (a redelivery).

    Called inside the transaction that applies the event, so the record and the effect commit or
    roll back together.
    """
    inserted = await session.execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return inserted.first() is not None


async def claim_events(
    session: AsyncSession, table: Table, *, consumer: str, event_ids: Sequence[str]
) -> set[str]:
    """Record that `consumer` applies each of `event_ids`, in one statement; returns the ids it
    had not applied before (a redelivered or repeated id is not among them).

    The ids travel as one array parameter, so the statement is the same (and prepared once per
    connection) whatever the batch's size.
    """
    if not event_ids:
        return set()
    inserted = await session.execute(
        _claim(table), {"consumer": consumer, "event_ids": list(event_ids)}
    )
    return set(inserted.scalars())


@functools.lru_cache(maxsize=64)
def _claim(table: Table) -> ReturningInsert[tuple[Any]]:
    """The statement of `claim_events`, its parameters bound when it runs. Built once: made anew
    for every batch, its parts (which refer to each other) were left to the cycle collector."""
    ids = func.unnest(bindparam("event_ids", type_=ARRAY(String)))
    return (
        insert(table)
        .from_select(["consumer", "event_id"], select(bindparam("consumer", type_=String), ids))
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, in the transaction the session began (begun now if it
    had not): for a hot statement, which costs several times less run on it than through
    SQLAlchemy. Statements run this way do not flush the session first."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, asyncpg.Connection):
        raise TypeError(f"not an asyncpg connection: {driver!r}")
    # SQLAlchemy's adapter sends BEGIN only before its own first statement: without one yet,
    # what runs on the driver would commit on its own, and a rollback would not undo it. (No
    # public way to begin it: the rolled-back event of tests/integration/test_outbox.py holds
    # this to it.)
    adapter: Any = raw.dbapi_connection
    if getattr(adapter, "_transaction", True) is None and not adapter.autocommit:
        await adapter._start_transaction()
    return driver


async def ping(session: AsyncSession) -> None:
    await session.execute(select(1))
