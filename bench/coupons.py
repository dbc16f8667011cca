"""``make bench-coupons``: claims of red-packet shares through coupons's brand API on Apache
Kafka, against a bare endpoint measured in the same run, and a hot packet.

1. Seeding. Through the operator API, as an operator would: a campaign with the README's example
   terms (lucky split, new customers only, a daily cap, a referral), `--packets` packets of
   `--shares` shares each issued by hand (one order each), a brand API key; and a campaign of
   `--hot-shares` shares a packet with one packet, the hot one (`bench.coupons_seed`).
2. Claims spread over many packets: each claim by a fan of its own, going round the packets in
   turn; one closed-loop load generator (`bench.loadgen`, `--connections` keep-alive
   connections) drives coupons and, as the baseline, a bare FastAPI endpoint at the same path
   that inserts one row in one asyncpg transaction (`bench.bare`), in a process of its own.
   After a warm-up of each, they are measured in alternating rounds (bare, coupons, ...), so
   that a shared machine's slow and fast spells fall on both alike; the CPU of each process
   meanwhile gives the CPU per claim.
3. The hot packet: `--hot-claimers` fans, each once, through the same generator
   (`--hot-connections` at once): exactly `--hot-shares` must win; the time until the last
   answer, and until the last share was taken (its claim's time in the database).
4. Check, once every event is relayed: the invariants recomputed from the database and from
   `scrm.coupons.v1` (`bench.coupons_check`): every claim one coupon, of its amount and holder;
   no packet with more claims than shares; claimed shares and claims one to one; shares summing
   to their packet's total; budgets whole; no fan with two claims on a packet; every claim
   answered 201 stored, and stored claims answered; one share-claimed event per claim.

Targets: claims/s >= 1,000 and >= 0.5 x the baseline; claim p99 <= 50 ms; the hot packet's
winners = its shares, finished within 2 s; no invariant broken. Exits 1 when an invariant is
broken or the hot packet's winners are not its shares; speed targets are reported, met or missed.
"""

import argparse
import asyncio
import os
import secrets
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from bench import coupons_check, coupons_seed, loadgen
from bench.coupons_report import Hot, Measured, conclude
from bench.harness import ROOT, cpu_seconds, kafka_bootstrap, prepare_database, process
from bench.report import say
from shared.db import asyncpg_dsn
from shared.topics import COUPONS, ensure_topics
from stack.embedded import EmbeddedPostgres, free_port

SIDES = ("bare", "coupons")  # in the order of each round
LAST_HOT_CLAIM = "SELECT max(c.claimed_at) FROM coupons.claims c JOIN coupons.packets p ON p.id = c.packet_id WHERE p.share_code = $1"  # noqa: E501


@dataclass(frozen=True)
class Bench:
    bootstrap: str
    topic: str
    dsn: str  # asyncpg's
    token: str  # the operator's
    servers: dict[str, tuple[int, int]]  # bare, coupons: (port, pid)


def start(stack: ExitStack, folder: Path, args: argparse.Namespace) -> Bench:
    """Apache Kafka (or the named broker) with fresh topics; PostgreSQL (fsync off, as for the
    other benchmarks) with coupons's schema; the bare endpoint and coupons."""
    bootstrap = kafka_bootstrap(stack)
    postgres = EmbeddedPostgres(folder / "pg", durable=False).start()
    stack.callback(postgres.stop)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    asyncio.run(ensure_topics(bootstrap, prefix=prefix, partitions=args.partitions))
    database_url = asyncio.run(prepare_database(postgres, ("coupons",)))
    token = secrets.token_urlsafe(24)
    ports = {name: free_port() for name in SIDES}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SCRM_DATABASE_URL": database_url, "SCRM_TOPIC_PREFIX": prefix,
           "SCRM_KAFKA_IDEMPOTENCE": "true", "SCRM_LOG_LEVEL": "WARNING",
           "BARE_PORT": str(ports["bare"]), "BARE_DATABASE_URL": asyncpg_dsn(database_url),
           "COUPONS_HTTP_PORT": str(ports["coupons"]), "COUPONS_OPERATOR_TOKEN": token}  # fmt: skip
    servers = {}
    for name, module, ready in (("bare", "bench.bare", "/"),
                                ("coupons", "services.coupons", "/readyz")):  # fmt: skip
        url, command = f"http://127.0.0.1:{ports[name]}{ready}", [sys.executable, "-m", module]
        pid = stack.enter_context(process(command, env, url, folder / f"{name}.log"))
        servers[name] = (ports[name], pid)
    return Bench(bootstrap, prefix + COUPONS, asyncpg_dsn(database_url), token, servers)


def measure(
    bench: Bench, seeded: coupons_seed.Seeded, args: argparse.Namespace
) -> dict[str, Measured]:
    """The warm-up of each side, then alternating rounds; each side's rounds and CPU."""
    per_round = args.claims // args.rounds
    count = args.warmup + per_round * args.rounds
    requests = {name: coupons_seed.claims(port, seeded.key, seeded.packets, count, wave=name)
                for name, (port, _) in bench.servers.items()}  # fmt: skip
    measured = {}
    for name, (port, _) in bench.servers.items():
        warm = requests[name][: args.warmup]
        measured[name] = Measured(
            asyncio.run(loadgen.run(port, warm, connections=args.connections))
        )
    for n in range(args.rounds):
        start_at = args.warmup + n * per_round
        for name in SIDES:
            port, pid = bench.servers[name]
            before = cpu_seconds(pid)
            batch = requests[name][start_at : start_at + per_round]
            done = asyncio.run(loadgen.run(port, batch, connections=args.connections))
            measured[name] = measured[name].with_round(done, cpu_seconds(pid) - before)
        rates = [f"{name} {measured[name].rounds[-1].throughput:.0f}" for name in SIDES]
        progress(f"round {n + 1}: claims/s " + ", ".join(rates))
    return measured


def hot_packet(bench: Bench, seeded: coupons_seed.Seeded, args: argparse.Namespace) -> Hot:
    """Every hot claimer once, `--hot-connections` at a time; the answers, the seconds to the
    last answer and to the last share taken, the CPU used."""
    port, pid = bench.servers["coupons"]
    requests = coupons_seed.claims(port, seeded.key, [seeded.hot_packet], args.hot_claimers,
                                   wave="hot")  # fmt: skip
    before, started = cpu_seconds(pid), time.time()
    done = asyncio.run(loadgen.run(port, requests, connections=args.hot_connections))
    used = cpu_seconds(pid) - before
    last = asyncio.run(_fetchval(bench.dsn, LAST_HOT_CLAIM, seeded.hot_packet))
    sold_out = last.timestamp() - started if isinstance(last, datetime) else float("nan")
    return Hot(args.hot_claimers, args.hot_shares, done, sold_out, used)


async def _fetchval(dsn: str, query: str, *arguments: object) -> object:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(query, *arguments)
    finally:
        await connection.close()


def check(bench: Bench, answered: int) -> dict[str, int]:
    """Every invariant's count of breaks, once the outbox is relayed."""
    if not asyncio.run(coupons_check.relayed(bench.dsn)):
        progress("the outbox was not relayed within a minute: events will be missing")
    broken, ids = asyncio.run(coupons_check.database(bench.dsn, answered=answered))
    events = asyncio.run(coupons_check.claimed_events(bench.bootstrap, bench.topic))
    return broken | coupons_check.on_the_topic(ids, events)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--packets", type=int, default=4_000, help="spread packets issued")
    add("--shares", type=int, default=10, help="of each spread packet")
    add("--claims", type=int, default=15_000, help="measured, for each side")
    add("--warmup", type=int, default=3_000, help="claims before the measured ones, each side")
    add("--rounds", type=int, default=3, help="alternating rounds of each side")
    add("--connections", type=int, default=32)
    add("--hot-claimers", type=int, default=10_000)
    add("--hot-shares", type=int, default=100)
    add("--hot-connections", type=int, default=100)
    add("--partitions", type=int, default=6)
    args = parser.parse_args()
    if args.warmup + args.claims > args.packets * args.shares:
        parser.error("more claims than shares: raise --packets")
    return args


def main() -> int:
    args = parse_args()
    # stopped from outside: tear down the broker, PostgreSQL and the servers on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        bench = start(stack, Path(scratch), args)
        began = time.monotonic()
        seeded = asyncio.run(coupons_seed.seed(
            bench.servers["coupons"][0], bench.token, packets=args.packets,
            shares=args.shares, hot_shares=args.hot_shares,
        ))  # fmt: skip
        say(f"bench-coupons: {args.packets} packets of {args.shares} shares seeded in "
            f"{time.monotonic() - began:.1f} s; {args.claims} claims each side, "
            f"{args.connections} connections, broker {bench.bootstrap}")  # fmt: skip
        measured = measure(bench, seeded, args)
        hot = hot_packet(bench, seeded, args)
        answered = measured["coupons"].created + hot.winners
        broken = check(bench, answered)
    return conclude(args, measured, hot, broken)


def progress(text: str) -> None:
    """Where the run is, on stderr: the table on stdout comes at the end."""
    sys.stderr.write(f"  ... {time.strftime('%H:%M:%S')} {text}\n")


if __name__ == "__main__":
    sys.exit(main())
