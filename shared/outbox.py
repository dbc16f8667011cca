"""The transactional outbox: an event is written in the same transaction as the change it reports,
then a relay publishes it and deletes the row. Several replicas may relay at once; ``SKIP LOCKED``
gives each row to one of them."""

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import (
    BigInteger,
    Delete,
    Row,
    Select,
    Table,
    Text,
    cast,
    delete,
    func,
    select,
)
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import metrics
from shared.contracts import topic_of
from shared.db import InfrastructureTables, Tx, after_commit, connection_of, transaction
from shared.events import CloudEvent, DataT, KafkaRecord, encode
from shared.kafka import EventProducer
from shared.logging import get_logger
from shared.periodic import PeriodicTask
from shared.settings import BaseServiceSettings
from shared.sql_arrays import any_of, insert_arrays

log = get_logger(__name__)
RELAY_BATCH = 500
# A relay behind or failing counts the pending rows (for the gauge) at most this often, not on
# every pass: nudged at each commit, it would count the table as often as it relays.
PENDING_COUNT_SECONDS = 1.0
PENDING_COUNT_CAP = 100_000  # the gauge reads this for any larger backlog (alerts fire at 1,000)


async def add_to_outbox(
    session: Tx,
    tables: InfrastructureTables,
    events: Sequence[tuple[str, CloudEvent[Any]]],
) -> None:
    """Write (topic, event) pairs in one statement whatever their number, each column one array
    parameter (a row at a time cost the consumer more than its own work); the relay publishes
    them in this order."""
    if not events:
        return
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    for topic, event in events:
        record = encode(event)
        columns["topic"].append(topic)
        columns["key"].append(record.key)
        columns["value"].append(record.value)
        # [[name, value], ...]: pydantic-core writes the bytes values as UTF-8 strings
        columns["headers"].append(to_json(record.headers).decode())
    # unnest's rows come in the arrays' order, and the ids are drawn in that order
    connection = await connection_of(session)
    await connection.execute(_insert(tables.outbox), *columns.values())


@functools.lru_cache(maxsize=64)
def _insert(table: Table) -> str:
    """`add_to_outbox`'s statement as asyncpg runs it, its parameters in `_COLUMNS`' order."""
    compiled = insert_arrays(table, _COLUMNS).compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    if compiled.positiontup != list(_COLUMNS):
        raise RuntimeError(f"the outbox insert's parameters are {compiled.positiontup}")
    return str(compiled)


_COLUMNS = ("topic", "key", "value", "headers")


class Outbox:
    """What a service's business code holds to publish: it knows the table and the topic prefix."""

    def __init__(self, settings: BaseServiceSettings, tables: InfrastructureTables) -> None:
        self._settings = settings
        self._tables = tables
        self.on_commit: Callable[[], None] | None = None  # the relay's nudge, in a service

    async def add(self, session: Tx, event: CloudEvent[DataT]) -> None:
        await self.add_all(session, [event])

    async def add_all(self, session: Tx, events: Sequence[CloudEvent[Any]]) -> None:
        """Several events in one statement: what a batch of the consumer announces."""
        pairs = [(self._settings.topic(topic_of(event.data)), event) for event in events]
        await add_to_outbox(session, self._tables, pairs)
        if pairs and self.on_commit is not None:
            # Relayed as soon as they are committed, not at the relay's next poll.
            after_commit(session, self.on_commit)


class OutboxRelay(PeriodicTask):
    """Relays every `outbox_poll_seconds`, batch after batch while rows are left; `stop()` relays
    what is left (best effort), then stops."""

    def __init__(
        self,
        *,
        settings: BaseServiceSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        tables: InfrastructureTables,
        producer: EventProducer,
    ) -> None:
        super().__init__(
            "outbox-relay", settings.outbox_poll_seconds, self._relay_pass, drain=True,
            linger=settings.outbox_linger_seconds,
        )  # fmt: skip
        self._settings = settings
        self._sessionmaker = sessionmaker
        self._table = tables.outbox
        self._producer = producer
        self._counted_at = -PENDING_COUNT_SECONDS

    async def relay_once(self) -> int:
        table = self._table
        async with transaction(self._sessionmaker) as session:
            rows = (await session.execute(_oldest(table))).all()
            if not rows:
                return 0
            await self._producer.send_many([(row.topic, _record(row)) for row in rows])
            await session.execute(_delete(table), {"ids": [row.id for row in rows]})
        for topic, relayed in Counter(row.topic for row in rows).items():
            metrics.OUTBOX_RELAYED.labels(self._settings.service_name, topic).inc(relayed)
        return len(rows)

    async def pending(self) -> int:
        """The rows not relayed yet, counted along the primary key up to `PENDING_COUNT_CAP`:
        a count of the whole table reads every dead row a busy queue leaves behind (tens of
        milliseconds a count once rows churn by the thousand a second)."""
        async with self._sessionmaker() as session:
            count = await session.scalar(_pending(self._table))
        return int(count or 0)

    async def _relay_pass(self) -> bool:
        """One pass; whether rows may be left (it took a full batch): then another at once.

        The backlog is counted when the pass left rows behind or could not send (a broker away
        is when it grows). A pass that took less than a full batch sets it to zero without
        counting: a relay that keeps up would otherwise count the table once a second for
        nothing."""
        try:
            relayed = await self.relay_once()
        except Exception as exc:
            # A broker or database away for a while is expected: a warning each poll, not a
            # traceback each poll.
            log.warning("outbox relay failed; will retry", error=repr(exc))
            await self._count_pending()
            return False
        if relayed < RELAY_BATCH:
            metrics.OUTBOX_PENDING.labels(self._settings.service_name).set(0)
        else:
            await self._count_pending()
        return relayed >= RELAY_BATCH

    async def _count_pending(self) -> None:
        if time.monotonic() - self._counted_at < PENDING_COUNT_SECONDS:
            return
        self._counted_at = time.monotonic()
        try:
            pending = await self.pending()
        except Exception as exc:
            log.warning("outbox backlog not counted", error=repr(exc))
        else:
            metrics.OUTBOX_PENDING.labels(self._settings.service_name).set(pending)


@functools.lru_cache(maxsize=64)
def _pending(table: Table) -> Select[Any]:
    first = select(table.c.id).order_by(table.c.id).limit(PENDING_COUNT_CAP).subquery()
    return select(func.count()).select_from(first)


@functools.lru_cache(maxsize=64)
def _oldest(table: Table) -> Select[Any]:
    """The oldest rows no other relay holds, their headers as JSON text: pydantic-core reads it
    in half the time the standard library's json took as the driver's JSONB decoder."""
    columns = (table.c.id, table.c.topic, table.c.key, table.c.value)
    return (
        select(*columns, cast(table.c.headers, Text).label("headers"))
        .order_by(table.c.id)
        .limit(RELAY_BATCH)
        .with_for_update(skip_locked=True)
    )


@functools.lru_cache(maxsize=64)
def _delete(table: Table) -> Delete:
    """The relayed rows' deletion, the same statement whatever their count."""
    return delete(table).where(table.c.id == any_of("ids", BigInteger()))


def _record(row: Row[Any]) -> KafkaRecord:
    return KafkaRecord(
        key=row.key or b"",
        value=row.value,
        headers=[(name, value.encode()) for name, value in from_json(row.headers)],
    )
