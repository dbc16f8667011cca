"""The baseline of ``make bench-scoring``: the least a correct consumer of the events topic does,
the floor under any consumer here.

It fetches as scoring's consumer runner does (the same group protocol, the same records per
fetch), decodes every event with `shared.events.decode`, records the batch's event ids in
PostgreSQL in one transaction (an idempotent consumer's claim, nothing applied), and commits the
offsets after it. aiokafka and asyncpg directly, without SQLAlchemy, sessions or handlers.
Runs until SIGTERM.

``python -m bench.baseline_consumer BOOTSTRAP TOPIC GROUP DSN MAX_BATCH``
"""

import argparse
import asyncio
import signal

import asyncpg
from aiokafka import AIOKafkaConsumer

import shared.contracts  # noqa: F401  (registers the contracts decode reads)
from shared.events import decode

TABLE = "baseline.processed_events"
CREATE_TABLE = f"""
CREATE SCHEMA IF NOT EXISTS baseline;
CREATE TABLE IF NOT EXISTS {TABLE} (
    consumer varchar(200) NOT NULL,
    event_id varchar(200) NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
)"""  # the shape of every service's processed_events (shared/db.py)
CLAIM = (
    "INSERT INTO baseline.processed_events (consumer, event_id)"
    " SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING"
)


async def create_table(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(CREATE_TABLE)
    finally:
        await connection.close()


async def consume(args: argparse.Namespace) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    consumer = AIOKafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=args.max_batch,
    )  # fmt: skip
    connection = await asyncpg.connect(args.dsn)
    await consumer.start()
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                continue
            ids = [decode(r.headers, r.value).id for records in batch.values() for r in records]
            async with connection.transaction():
                await connection.execute(CLAIM, args.group, ids)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
    finally:
        await consumer.stop()
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("bootstrap", "topic", "group", "dsn"):
        parser.add_argument(name)
    parser.add_argument("max_batch", type=int, help="records per fetch, as scoring's")
    asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    main()
