"""``make bench-sla``: how late responder tells a breached first-reply deadline on Apache Kafka,
with 100,000 conversations open, and whether a restart loses or doubles an SLA event; against a
bare timer loop measured in the same run.

1. Baseline: a bare timer loop (`bench.sla_baseline`: asyncio call_at -> the project's producer)
   tells the breaches of deadlines at the first wave's rate for a minute.
2. Two waves of open conversations, one fan each, written into responder's database as
   responder writes a fan's first message (`bench.sla_seed`: written, not sent, so that the
   deadlines fall exactly where the bench wants them whatever the machine): the first,
   100,000 with first-reply deadlines (the default policy's 10 minutes) over 3 minutes from
   150 s on; the second, 30,000 over 2 minutes after it. Then responder starts, and finds
   them as it finds any replica's deadlines: by reading the timers due within its horizon.
3. Warm-up: fan messages on the events topic whose deadlines passed an hour ago (breached the
   moment they are applied), which also measure how fast responder applies messages.
4. First wave: lag = the broker's append time of each breach on `scrm.sla.v1` (a
   LogAppendTime topic) minus its deadline; p50 and p99 of the exact values.
5. Second wave: 15 s before the middle of its deadlines, fan messages on the events topic (as
   many as responder applies in 30 s, their deadlines after the restart); at the middle,
   responder gets SIGTERM and a new process starts.
6. Check: every clock in responder's database must have had its warning and breached events,
   and its started event if a message on the topic opened it, on the topic exactly once (their
   ids are deterministic: `<clock id>:breached`).

Targets: breach lag p99 <= 1,000 ms; no SLA event lost or doubled (exit 1 otherwise).
"""

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import sla_seed
from bench.harness import (
    ROOT,
    cpu_seconds,
    kafka_bootstrap,
    memory_mb,
    prepare_database,
    running,
)
from bench.harness import process as child_process
from bench.histogram import Buckets, between, scrape
from bench.kafka_tools import BatchProducer, TopicProgress
from bench.sla_load import Window, messages, past_deadlines, wave_of
from bench.sla_report import Check, FirstRun, Restart, conclude
from bench.sla_topic import read_all, topic_specs, wait_for_records
from services.responder.config import ResponderSettings
from shared.db import asyncpg_dsn
from shared.topics import EVENTS, SLA, ensure_topics
from stack.embedded import EmbeddedPostgres, free_port

SEEDED_WAVES = ("w1", "w2")  # written into the database; "warm" and "live" came on Kafka
LIVE_EVENTS, SEEDED_EVENTS = 3, 2  # started (told when a message opened it), warning, breached
GAP_SECONDS = 20.0  # between the first wave's last deadline and the second's first
LIVE_AHEAD, LIVE_SECONDS, LIVE_DEADLINES_AFTER = 15.0, 30.0, 45.0  # around the restart
BASELINE_LEAD = 5.0  # the baseline process starts meanwhile
PATIENCE = 30.0  # seconds without a new SLA record, past a window's end: the rest is lost
RSS_EVERY_SECONDS = 1.0
DETECTION = "scrm_responder_breach_detection_seconds"
BASELINE_TOPIC = "bench.sla-baseline"
POLL_SECONDS = 0.5
# the partial index of the timers' scan (ix_sla_clocks_deadline) answers it
UNBREACHED = (
    "SELECT count(*) FROM responder.sla_clocks"
    " WHERE ended_at IS NULL AND NOT breached AND deadline IS NOT NULL AND deadline <= $1"
)
UNRELAYED = "SELECT count(*) FROM responder.outbox_messages WHERE id <= $1"


@dataclass(frozen=True)
class Plan:
    first: Window
    second: Window
    restart: float  # epoch seconds


@dataclass(frozen=True)
class Bench:
    bootstrap: str
    prefix: str
    database_url: str
    folder: Path
    env: dict[str, str]
    http_port: int
    group: str

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.database_url)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"


def start(stack: ExitStack, folder: Path, args: argparse.Namespace) -> Bench:
    """Apache Kafka (or the named broker) with fresh topics, the SLA ones stamped with the
    broker's append time; PostgreSQL (fsync off, as for the other benchmarks) with responder's
    schema."""
    bootstrap = kafka_bootstrap(stack)
    postgres = EmbeddedPostgres(folder / "pg", durable=False).start()
    stack.callback(postgres.stop)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    asyncio.run(ensure_topics(bootstrap, prefix=prefix, partitions=args.partitions,
                              specs=topic_specs(BASELINE_TOPIC)))  # fmt: skip
    database_url = asyncio.run(prepare_database(postgres, ("responder",)))
    settings = ResponderSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url,
                                 topic_prefix=prefix, http_port=free_port())  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SCRM_DATABASE_URL": database_url, "SCRM_TOPIC_PREFIX": prefix,
           "SCRM_KAFKA_IDEMPOTENCE": "true", "SCRM_LOG_LEVEL": "WARNING",
           "RESPONDER_HTTP_PORT": str(settings.http_port)}  # fmt: skip
    return Bench(bootstrap, prefix, database_url, folder, env, settings.http_port,
                 settings.consumer_group)  # fmt: skip


def measure_baseline(bench: Bench, count: int, span: float) -> list[float]:
    """The bare timer loop's lags (ms), for `count` deadlines over `span` seconds."""
    first = time.time() + BASELINE_LEAD
    command = [sys.executable, "-m", "bench.sla_baseline", bench.bootstrap,
               bench.topic(BASELINE_TOPIC), str(count), f"{first:.3f}", str(span)]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=bench.env, check=True, timeout=span + 120)  # noqa: S603
    records = asyncio.run(read_all(bench.bootstrap, bench.topic(BASELINE_TOPIC)))
    if len(records) != count:
        raise RuntimeError(f"the baseline told {len(records)} breaches of {count}")
    return [record.lag_ms for record in records]


async def produce(bench: Bench, wave: str, deadlines: list[float]) -> None:
    async with BatchProducer(bench.bootstrap, bench.topic(EVENTS)) as producer:
        for chunk in messages(wave, deadlines):
            await producer.add(chunk)
        await producer.acknowledged()


async def applied(bench: Bench, pid: int) -> float:
    """When responder had committed everything on the events topic (epoch seconds)."""
    async with TopicProgress(bench.bootstrap, bench.topic(EVENTS)) as progress:
        end = await progress.end()
        return await progress.caught_up(bench.group, end=end, alive=lambda: running(pid))


async def sla_records(bench: Bench, *, expected: int, not_before: float) -> int:
    async with TopicProgress(bench.bootstrap, bench.topic(SLA)) as progress:
        return await wait_for_records(progress, expected=expected, not_before=not_before,
                                      patience=PATIENCE)  # fmt: skip


class Memory:
    """The peak resident memory of responder's processes, sampled meanwhile and read from
    VmHWM before each is stopped."""

    def __init__(self) -> None:
        self.peak_mb = 0.0

    def note(self, pid: int) -> None:
        self.peak_mb = max(self.peak_mb, memory_mb(pid), memory_mb(pid, "VmHWM"))

    async def sample(self, pid: int) -> None:
        while True:
            self.note(pid)
            await asyncio.sleep(RSS_EVERY_SECONDS)


async def warm_up(bench: Bench, pid: int, count: int) -> float:
    """Messages whose deadlines have passed; responder's messages applied a second."""
    started = time.time()
    await produce(bench, "warm", past_deadlines(count, now=started))
    return count / (await applied(bench, pid) - started)


def plan(args: argparse.Namespace) -> Plan:
    """The seeded waves' windows, the second after the first, and the moment of the restart."""
    first = Window(time.time() + args.lead, args.span, args.conversations)
    second = Window(first.end + GAP_SECONDS, args.second_span, args.second_wave)
    return Plan(first, second, second.start + second.span * args.restart_at)


async def first_process(
    bench: Bench, args: argparse.Namespace, pid: int, memory: Memory, planned: Plan
) -> tuple[FirstRun, Window]:
    """The warm-up, the first wave, and the second up to the restart, fan messages arriving
    on the events topic meanwhile."""
    sampler = asyncio.create_task(memory.sample(pid))
    try:
        rate = await warm_up(bench, pid, args.warmup)
        progress(f"warm-up: {args.warmup} messages applied at {rate:.0f}/s")
        first = await first_wave(bench, pid, planned.first)
        first = replace(first, warm_rate=rate)
        progress("first wave told; the second wave's deadlines come")
        live = await live_messages(bench, planned, rate)
        await asyncio.sleep(max(0.0, planned.restart - time.time()))
        memory.note(pid)
        return first, live
    finally:
        sampler.cancel()


async def first_wave(bench: Bench, pid: int, window: Window) -> FirstRun:
    """Until every breach of the first wave is on the topic; responder's own view of it."""
    metrics = f"http://127.0.0.1:{bench.http_port}/metrics"
    await asyncio.sleep(max(0.0, window.start - time.time() - 1))
    before, cpu_before = await scrape(metrics, DETECTION), cpu_seconds(pid)
    await asyncio.sleep(max(0.0, window.end - time.time()))
    await breaches_relayed(bench, until=window.end)
    detection: Buckets = between(before, await scrape(metrics, DETECTION))
    return FirstRun(window, detection, cpu_seconds(pid) - cpu_before)


async def breaches_relayed(bench: Bench, *, until: float) -> None:
    """Poll responder's database until every deadline up to `until` is flagged breached and the
    outbox rows written meanwhile are relayed (the second wave's warnings go on meanwhile, so
    the topic's count alone cannot tell)."""
    connection = await asyncpg.connect(bench.dsn)
    try:
        await _until_none(connection, UNBREACHED, datetime.fromtimestamp(until, UTC))
        written = await connection.fetchval("SELECT max(id) FROM responder.outbox_messages")
        if written is not None:
            await _until_none(connection, UNRELAYED, written)
    finally:
        await connection.close()


async def _until_none(connection: asyncpg.Connection, count: str, argument: object) -> None:
    """Poll until `count` counts nothing; raise after PATIENCE seconds of no change."""
    left, changed = await connection.fetchval(count, argument), time.monotonic()
    while left:
        await asyncio.sleep(POLL_SECONDS)
        now, latest = time.monotonic(), await connection.fetchval(count, argument)
        if latest != left:
            left, changed = latest, now
        elif now - changed > PATIENCE:
            raise TimeoutError(f"{left} left, none done for {PATIENCE:.0f} s: {count}")


async def live_messages(bench: Bench, planned: Plan, rate: float) -> Window:
    """Fan messages on the events topic shortly before the restart, as many as responder
    applies in LIVE_SECONDS: it is applying them when the SIGTERM comes. Their deadlines fall
    after the restart."""
    await asyncio.sleep(max(0.0, planned.restart - LIVE_AHEAD - time.time()))
    count = max(1, round(rate * LIVE_SECONDS))
    window = Window(planned.restart + LIVE_DEADLINES_AFTER, LIVE_SECONDS, count)
    await produce(bench, "live", window.deadlines(seed=3))
    return window


async def second_process(
    bench: Bench, args: argparse.Namespace, pid: int, memory: Memory, planned: Plan,
    live: Window,
) -> float:  # fmt: skip
    """After the restart: until every expected SLA event is on the topic; when it was ready."""
    ready = time.time()
    sampler = asyncio.create_task(memory.sample(pid))
    try:
        expected = (LIVE_EVENTS * (args.warmup + live.count)
                    + SEEDED_EVENTS * (args.conversations + args.second_wave))  # fmt: skip
        await sla_records(bench, expected=expected, not_before=max(planned.second.end, live.end))
        memory.note(pid)
    finally:
        sampler.cancel()
    return ready


async def expected_ids(bench: Bench) -> tuple[int, set[str]]:
    """The conversations in responder's database, and the SLA event ids their clocks must have
    told: each warned and breached, and started too if a message on the topic opened it."""
    connection = await asyncpg.connect(bench.dsn)
    try:
        conversations = await connection.fetchval("SELECT count(*) FROM responder.conversations")
        clocks = await connection.fetch(
            "SELECT c.id, v.fan_key FROM responder.sla_clocks c"
            " JOIN responder.conversations v ON v.id = c.conversation_id"
        )
    finally:
        await connection.close()
    expected = set()
    for row in clocks:
        seeded = wave_of(row["fan_key"]) in SEEDED_WAVES
        for suffix in ("warning", "breached") if seeded else ("started:message", "warning",
                                                              "breached"):  # fmt: skip
            expected.add(f"{row['id']}:{suffix}")
    return int(conversations), expected


def run(bench: Bench, args: argparse.Namespace, planned: Plan) -> tuple[FirstRun, Restart, float]:
    """Both responder processes; the first wave's run, the restart, the peak RSS."""
    command, memory = [sys.executable, "-m", "services.responder"], Memory()
    ready_url = f"http://127.0.0.1:{bench.http_port}/readyz"
    with child_process(command, bench.env, ready_url, bench.folder / "responder-1.log") as pid:
        first, live = asyncio.run(first_process(bench, args, pid, memory, planned))
        terminated = time.time()
        progress("SIGTERM to responder mid-way through the second wave's deadlines")
    stopped = time.time()
    with child_process(command, bench.env, ready_url, bench.folder / "responder-2.log") as pid:
        ready = asyncio.run(second_process(bench, args, pid, memory, planned, live))
    return first, Restart(planned.second, live, terminated, stopped, ready), memory.peak_mb


def check(bench: Bench) -> Check:
    conversations, expected = asyncio.run(expected_ids(bench))
    records = asyncio.run(read_all(bench.bootstrap, bench.topic(SLA)))
    return Check(conversations, expected, records)


def seed_waves(bench: Bench, planned: Plan) -> float:
    """Both waves' conversations, in the database before responder starts; the seconds taken."""
    started = time.perf_counter()
    for wave, window, seed in (("w1", planned.first, 1), ("w2", planned.second, 2)):
        asyncio.run(sla_seed.seed(bench.dsn, wave, window.deadlines(seed)))
    return time.perf_counter() - started


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--conversations", type=int, default=100_000, help="open, the first wave's")
    add("--span", type=float, default=180, help="seconds over which their deadlines fall")
    add("--lead", type=float, default=150,
        help="seconds from the seeding to the first deadline (warnings: 120 s ahead)")  # fmt: skip
    add("--second-wave", type=int, default=30_000, help="conversations")
    add("--second-span", type=float, default=120, help="seconds")
    add("--restart-at", type=float, default=0.5,
        help="how far through the second wave's deadlines responder restarts (0 to 1)")  # fmt: skip
    add("--warmup", type=int, default=2_000, help="fan messages of deadlines long passed")
    add("--baseline-seconds", type=float, default=60,
        help="the bare timer loop's deadlines, at the first wave's rate")  # fmt: skip
    add("--partitions", type=int, default=6)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # stopped from outside: tear down the broker, PostgreSQL and responder on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        bench = start(stack, Path(scratch), args)
        count = round(args.conversations / args.span * args.baseline_seconds)
        progress(f"baseline: a bare timer loop tells {count} breaches at {bench.bootstrap}")
        baseline = measure_baseline(bench, count, args.baseline_seconds)
        planned = plan(args)
        seeded = seed_waves(bench, planned)
        progress(f"{args.conversations + args.second_wave} conversations opened in "
                 f"{seeded:.0f} s; responder starts, the warm-up's messages come")  # fmt: skip
        first, restart, peak_rss_mb = run(bench, args, planned)
        checked = check(bench)
    return conclude(args, bench.bootstrap, baseline, first, restart, checked, peak_rss_mb)


def progress(text: str) -> None:
    """Where the run is, on stderr: the table on stdout comes at the end."""
    sys.stderr.write(f"  ... {time.strftime('%H:%M:%S')} {text}\n")


if __name__ == "__main__":
    sys.exit(main())
