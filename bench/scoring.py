"""``make bench-scoring``: scoring's throughput, lag and memory on Apache Kafka, against the least
a correct consumer of the same topic does, measured in the same run.

1. Pre-load: 1,000,000 events of every type scoring reads, for 100,000 fans of 20 brand
   accounts, that happened over the past 60 days (`bench.fan_events`), produced with acks=all
   onto a fresh 6-partition events topic.
2. Baseline: a minimal idempotent consumer (`bench.baseline_consumer`) reads the whole topic:
   it decodes every event and records its id in PostgreSQL, one transaction per fetched batch,
   offsets committed after. Then one scoring process reads the same topic from its start. They
   run one after the other, each alone on the machine, baseline first: both read records the
   broker has just written (in its page cache) from a JVM the pre-load warmed. Both fetch the
   same number of records at a time (scoring's SCRM_CONSUMER_MAX_BATCH). Events/s: the events
   over the time from the group's first claim in PostgreSQL to the moment its committed offsets
   are first seen at the topic's end (polled every 50 ms).
3. Steady: 2,000 events/s for 60 s offered to the caught-up scoring, in 10 ms ticks, each event
   stamped (its time and occurred_at) with the moment it is made. Lag, event produced to profile
   committed, is scoring's own histogram `scrm_scoring_event_lag_seconds`, scraped before and
   after: p50 and p99 are interpolated within its buckets, as Prometheus's histogram_quantile.
4. Check: each fan's stored interactions, paid orders and refunds against what was produced for
   them; scoring's claimed event ids against the events produced.
5. The model alone (`bench.scoring_model`): the CPU per event of scoring's rules with no I/O
   (decode, apply, score, row, announce), on fans with as many events each as the pre-load's,
   alone on the machine; and the events a second that would allow one core.

Targets: events/s >= 10,000, ratio >= 0.5, lag p99 <= 500 ms, nothing lost or applied twice,
memory flat (scoring's RSS after the steady phase within 10% of its RSS after the pre-load).
Exits 1 when an event was lost or applied twice; speed targets are reported, met or missed.
"""

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import baseline_consumer
from bench.fan_events import FanEvents, verified
from bench.harness import (
    ROOT,
    cpu_seconds,
    kafka_bootstrap,
    memory_mb,
    prepare_database,
    process,
    running,
)
from bench.histogram import Buckets, between, scrape
from bench.kafka_tools import BatchProducer, TopicProgress
from bench.scoring_report import Applied, CatchUp, ScoringRun, Steady, conclude
from services.scoring.config import ScoringSettings
from shared.db import asyncpg_dsn
from shared.topics import EVENTS, ensure_topics
from stack.embedded import EmbeddedPostgres, free_port

HISTORY_DAYS, TICK_SECONDS, RSS_EVERY_SECONDS = 60, 0.01, 5.0
LAG_METRIC = "scrm_scoring_event_lag_seconds"
SCORING_CLAIMS = "scoring.processed_events"
DEFAULT_MAX_BATCH = ScoringSettings.model_fields["consumer_max_batch"].default
MODEL_EVENTS = 50_000  # events the model alone is timed on


@dataclass(frozen=True)
class Bench:
    """Where it all runs: the broker and topic, the groups, the database, the scratch folder."""

    bootstrap: str
    topic: str
    scoring_group: str
    baseline_group: str
    database_url: str
    folder: Path
    env: dict[str, str]
    http_port: int
    max_batch: int

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.database_url)


def start(stack: ExitStack, folder: Path, args: argparse.Namespace) -> Bench:
    """Apache Kafka (or the named broker) with fresh topics, PostgreSQL (fsync off, as for
    bench-ingest) with scoring's schema and the baseline's table."""
    bootstrap = kafka_bootstrap(stack)
    postgres = EmbeddedPostgres(folder / "pg", durable=False).start()
    stack.callback(postgres.stop)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    asyncio.run(ensure_topics(bootstrap, prefix=prefix, partitions=args.partitions))
    database_url = asyncio.run(prepare_database(postgres, ("scoring",)))
    asyncio.run(baseline_consumer.create_table(asyncpg_dsn(database_url)))
    settings = ScoringSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix,
        http_port=free_port(), consumer_max_batch=args.max_batch,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SCRM_DATABASE_URL": database_url, "SCRM_TOPIC_PREFIX": prefix,
           "SCRM_KAFKA_IDEMPOTENCE": "true", "SCRM_LOG_LEVEL": "WARNING",
           "SCRM_CONSUMER_MAX_BATCH": str(args.max_batch),
           "SCORING_HTTP_PORT": str(settings.http_port)}  # fmt: skip
    return Bench(bootstrap, settings.topic(EVENTS), settings.consumer_group,
                 f"{prefix}bench-baseline", database_url, folder, env, settings.http_port,
                 args.max_batch)  # fmt: skip


async def preload(bench: Bench, events: FanEvents, total: int) -> float:
    """Produce `total` events of the past days, oldest first; the seconds until all were
    acknowledged."""
    started = time.perf_counter()
    history = events.history(total, days=HISTORY_DAYS, now=datetime.now(UTC))
    async with BatchProducer(bench.bootstrap, bench.topic) as producer:
        for n, chunk in enumerate(history):
            if n == 0:
                verified(chunk[:1000])  # decodable as scoring decodes
            await producer.add(chunk)
        await producer.acknowledged()
    return time.perf_counter() - started


async def catch_up(bench: Bench, *, group: str, claims: str, pid: int, end: int) -> CatchUp:
    """Wait until `group` (process `pid`) has committed the topic up to `end`; its rate from its
    first claim (the first transaction's start, in `claims`) to then."""
    before = cpu_seconds(pid)
    async with TopicProgress(bench.bootstrap, bench.topic) as progress:
        done = await progress.caught_up(group, end=end, alive=lambda: running(pid))
    used = cpu_seconds(pid) - before
    connection = await asyncpg.connect(bench.dsn)
    try:
        query = f"SELECT extract(epoch FROM min(processed_at)) FROM {claims} WHERE consumer = $1"  # noqa: S608 (a constant)
        started = float(await connection.fetchval(query, group))
    finally:
        await connection.close()
    return CatchUp(end, done - started, used)


def measure_baseline(bench: Bench, end: int) -> CatchUp:
    """The baseline consumer alone on the pre-loaded topic, until it has committed `end`."""
    command = [sys.executable, "-m", "bench.baseline_consumer", bench.bootstrap, bench.topic,
               bench.baseline_group, bench.dsn, str(bench.max_batch)]  # fmt: skip
    with process(command, bench.env, None, bench.folder / "baseline.log") as pid:
        return asyncio.run(
            catch_up(bench, group=bench.baseline_group, claims=baseline_consumer.TABLE, pid=pid,
                     end=end)
        )  # fmt: skip


def measure_scoring(bench: Bench, events: FanEvents, args: argparse.Namespace) -> ScoringRun:
    """One scoring process, as deployed, from its start on the pre-loaded topic to the end of
    the steady phase."""
    command = [sys.executable, "-m", "services.scoring"]
    ready = f"http://127.0.0.1:{bench.http_port}/readyz"
    with process(command, bench.env, ready, bench.folder / "scoring.log") as pid:
        return asyncio.run(scoring_run(bench, events, args, pid))


async def scoring_run(
    bench: Bench, events: FanEvents, args: argparse.Namespace, pid: int
) -> ScoringRun:
    """The catch-up on the pre-loaded topic, then the steady phase; the process's memory
    sampled meanwhile."""
    samples: list[float] = []
    sampler = asyncio.create_task(sample_rss(pid, samples))
    try:
        read = await catch_up(bench, group=bench.scoring_group, claims=SCORING_CLAIMS, pid=pid,
                              end=events.produced)  # fmt: skip
        rss_after_preload = memory_mb(pid)
        steady = await steady_phase(bench, events, args, pid)
        return ScoringRun(read, steady, rss_after_preload, memory_mb(pid),
                          memory_mb(pid, "VmHWM"), samples)  # fmt: skip
    finally:
        sampler.cancel()


async def sample_rss(pid: int, samples: list[float]) -> None:
    """`pid`'s resident memory every few seconds, until cancelled: flat, or growing?"""
    while True:
        samples.append(round(memory_mb(pid), 1))
        await asyncio.sleep(RSS_EVERY_SECONDS)


async def steady_phase(
    bench: Bench, events: FanEvents, args: argparse.Namespace, pid: int
) -> Steady:
    """Offer the steady rate, wait until scoring has committed all of it; the lag histogram's
    observations meanwhile."""
    metrics_url = f"http://127.0.0.1:{bench.http_port}/metrics"
    lag_before = await scrape(metrics_url, LAG_METRIC)
    cpu_before = cpu_seconds(pid)
    sent, seconds = await offer(bench, events, rate=args.rate, seconds=args.steady_seconds)
    async with TopicProgress(bench.bootstrap, bench.topic) as progress:
        end = await progress.end()
        await progress.caught_up(bench.scoring_group, end=end, alive=lambda: running(pid))
    cpu = cpu_seconds(pid) - cpu_before
    lag: Buckets = between(lag_before, await scrape(metrics_url, LAG_METRIC))
    return Steady(sent, seconds, cpu, lag)


async def offer(
    bench: Bench, events: FanEvents, *, rate: float, seconds: float
) -> tuple[int, float]:
    """`rate` events a second for `seconds`, in ticks on a fixed schedule (a late tick is made
    up by the next), each made at the moment it is sent; the events and the seconds taken."""
    total, ticks = round(rate * seconds), math.ceil(seconds / TICK_SECONDS)
    loop = asyncio.get_running_loop()
    async with BatchProducer(bench.bootstrap, bench.topic) as producer:
        started, sent = loop.time(), 0
        for tick in range(1, ticks + 1):
            due = min(total, round(rate * TICK_SECONDS * tick))
            now = datetime.now(UTC)
            records = [events.event(now) for _ in range(due - sent)]
            if sent == 0:
                verified(records)
            await producer.add(records)
            await producer.flush()
            sent = due
            await asyncio.sleep(max(0.0, started + TICK_SECONDS * tick - loop.time()))
        taken = loop.time() - started
        await producer.acknowledged()
    return sent, taken


async def check_applied(bench: Bench, events: FanEvents) -> Applied:
    """What scoring stored, against what was produced for each fan."""
    connection = await asyncpg.connect(bench.dsn)
    try:
        rows = await connection.fetch(
            "SELECT fan_key, interaction_count, paid_orders,"
            " coalesce((state->'purchases'->>'refunds')::int, 0) AS refunds"
            " FROM scoring.fan_profiles"
        )
        count = "SELECT count(*) FROM {} WHERE consumer = $1"
        claimed = await connection.fetchval(count.format(SCORING_CLAIMS), bench.scoring_group)
        baseline = await connection.fetchval(
            count.format(baseline_consumer.TABLE), bench.baseline_group
        )
    finally:
        await connection.close()
    stored = {row["fan_key"]: (row[1], row[2], row[3]) for row in rows}
    lost, duplicated = discrepancies(events, stored)
    return Applied(events.produced, len(rows), claimed, baseline, lost, duplicated)


def discrepancies(events: FanEvents, stored: dict[str, tuple[int, int, int]]) -> tuple[int, int]:
    """Lost: what a fan's profile lacks of what was produced for them (all of it without a
    profile); duplicated: what it has beyond that, profiles of no fan of ours entirely."""
    lost = duplicated = 0
    expected, stored = events.expected, dict(stored)
    for fan in range(events.fans):
        wanted = (expected.interactions[fan], expected.paid_orders[fan], expected.refunds[fan])
        applied = stored.pop(events.fan_key(fan), (0, 0, 0))
        for want, got in zip(wanted, applied, strict=True):
            lost += max(want - got, 0)
            duplicated += max(got - want, 0)
    return lost, duplicated + sum(sum(counts) for counts in stored.values())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--events", type=int, default=1_000_000, help="pre-loaded")
    add("--fans", type=int, default=100_000)
    add("--accounts", type=int, default=20, help="brand accounts, each fan of one")
    add("--rate", type=float, default=2_000, help="events/s offered in the steady phase")
    add("--steady-seconds", type=float, default=60)
    add("--partitions", type=int, default=6)
    add("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
        help="records per fetch, for both consumers (default: scoring's own)")  # fmt: skip
    args = parser.parse_args()
    if args.events < args.fans:
        parser.error("--events must be at least --fans: every fan has an event")
    return args


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        bench = start(stack, Path(scratch), args)
        events = FanEvents(fans=args.fans, accounts=args.accounts)
        progress(f"pre-loading {args.events} events onto {bench.topic} at {bench.bootstrap}")
        preload_seconds = asyncio.run(preload(bench, events, args.events))
        progress(f"pre-loaded in {preload_seconds:.1f} s; the baseline reads them")
        baseline = measure_baseline(bench, args.events)
        progress(f"baseline: {baseline.events_per_s:.0f} events/s; scoring reads them")
        scoring = measure_scoring(bench, events, args)
        applied = asyncio.run(check_applied(bench, events))
    progress("the scoring model alone, with no I/O")
    model = measure_model(args)
    return conclude(args, bench.bootstrap, preload_seconds, baseline, scoring, applied, model)


def measure_model(args: argparse.Namespace) -> dict[str, float] | None:
    """`bench.scoring_model` in a process of its own (the service's collector settings), on
    fans with as many events each as the pre-load gives them; None if it failed (the run's
    other figures and verdicts are written all the same)."""
    events = MODEL_EVENTS
    fans = max(round(events * args.fans / args.events), 1)
    command = [sys.executable, "-m", "bench.scoring_model", "--events", str(events),
               "--fans", str(fans), "--accounts", str(args.accounts),
               "--days", str(HISTORY_DAYS)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        progress(f"the model alone was not measured: {done.stderr.strip()[-500:]}")
        return None
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def progress(text: str) -> None:
    """Where the run is, on stderr: the table on stdout comes at the end."""
    sys.stderr.write(f"  ... {text}\n")


if __name__ == "__main__":
    sys.exit(main())
