"""``make bench-ingest``: ingest's webhook throughput and latency on Apache Kafka, against a bare
FastAPI endpoint driven by the same load generator in the same run.

One ingest worker (one process) receives Standard Webhooks, each signed and unique; it verifies,
de-duplicates, produces with acks=all and answers. Afterwards the events topic is read back: every
accepted webhook must be there exactly once. Targets: throughput >= 0.6 x the bare endpoint's,
p99 <= 50 ms, nothing lost or doubled.

Both run at once and are measured in alternating rounds (bare, ingest, bare, ...), so a shared
machine's slow and fast spells fall on both alike: one measurement of each swung the ratio by
0.15 between runs here.
"""

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.harness import (
    ROOT,
    CpuUse,
    cpu_seconds,
    kafka_bootstrap,
    prepare_database,
    process,
)
from bench.kafka_tools import read_topic
from bench.report import say, write_results
from services.ingest.platforms.standard import standard_webhook_signature
from shared.topics import EVENTS, ensure_topics
from stack.embedded import EmbeddedPostgres, free_port

ACCOUNT = "bench-shop"
TARGET_RATIO, TARGET_P99_MS = 0.6, 50.0


def signed_requests(port: int, secret: str, count: int) -> list[bytes]:
    requests = []
    now = datetime.now(UTC).isoformat()
    for n in range(count):
        message_id = f"m-{uuid.uuid4().hex}"
        payload = {"type": "message.received", "timestamp": now,
                   "data": {"message_id": message_id, "user_id": f"fan-{n % 5000}",
                            "text": "Is my parcel late? 我的包裹什么时候到"}}  # fmt: skip
        requests.append(signed_webhook(port, secret, ACCOUNT, payload))
    return requests


def signed_webhook(port: int, secret: str, account: str, payload: dict[str, Any]) -> bytes:
    """A Standard Webhook to ingest's endpoint of `account`, signed with `secret` now."""
    body = json.dumps(payload).encode()
    webhook_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhook_signature(secret, webhook_id, timestamp, body),
    }
    return loadgen.http_request(port, f"/v1/webhooks/standard/{account}", body, headers)


async def count_events(bootstrap: str, topic: str) -> list[str]:
    return [dict(r.headers)["ce_id"].decode() for r in await read_topic(bootstrap, topic)]


def report(name: str, result: loadgen.Result) -> None:
    say(f"  {name:<8} {result.requests:>7} req in {result.seconds:6.2f} s = "
        f"{result.throughput:8.0f} req/s   p50 {result.median_ms:6.2f} ms   "
        f"p99 {result.percentile(0.99):6.2f} ms   statuses {result.statuses}")  # fmt: skip


def report_cpu(result: loadgen.Result, cpu: CpuUse) -> None:
    per_request = {name: getattr(cpu, name) / result.requests * 1e6
                   for name in ("service", "broker", "database", "load_generator")}  # fmt: skip
    busy = cpu.machine_busy / (result.seconds * cpu.cores) * 100
    say("           CPU per request (µs): " + ", ".join(
        f"{name.replace('_', ' ')} {us:.0f}" for name, us in per_request.items()
    ) + f"; all {cpu.machine_busy / result.requests * 1e6:.0f}; machine {busy:.0f}% busy "
        f"on {cpu.cores} cores")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="measured, for each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of each")
    parser.add_argument(
        "--warmup", type=int, default=30_000,
        help="unmeasured requests to each first: a fresh broker's JVM compiles its hot paths "
        "meanwhile (it took 190 us of CPU per webhook at 2,000, 30-40 once warm)",
    )  # fmt: skip
    return parser.parse_args()


@dataclass(frozen=True)
class Bench:
    """The two servers under load, and where ingest produces."""

    bootstrap: str
    events_topic: str
    ports: dict[str, tuple[int, int]]  # name: (port, pid)


def start(stack: ExitStack, folder: Path, secret: str) -> Bench:
    """Apache Kafka (or the named broker), PostgreSQL, the bare endpoint and ingest."""
    bootstrap = kafka_bootstrap(stack)
    # fsync off, as the figures in the README were measured: this machine's one disk is not a
    # database server's, and the baseline touches no database
    postgres = EmbeddedPostgres(folder / "pg", durable=False).start()
    stack.callback(postgres.stop)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    asyncio.run(ensure_topics(bootstrap, prefix=prefix, partitions=6))
    database_url = asyncio.run(prepare_database(postgres, ("ingest",)))
    accounts = folder / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [
        {"platform": "standard", "account_id": ACCOUNT, "secret": secret}]}))  # fmt: skip
    bare_port, ingest_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BARE_PORT": str(bare_port),
           "SCRM_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SCRM_DATABASE_URL": database_url,
           "SCRM_TOPIC_PREFIX": prefix, "SCRM_KAFKA_IDEMPOTENCE": "true",
           "SCRM_LOG_LEVEL": "WARNING", "INGEST_HTTP_PORT": str(ingest_port),
           "INGEST_ACCOUNTS_FILE": str(accounts)}  # fmt: skip
    ports = {}
    services = (("bare", "bench.bare", bare_port, "/"),
                ("ingest", "services.ingest", ingest_port, "/readyz"))  # fmt: skip
    for name, module, port, ready_path in services:
        ready_url = f"http://127.0.0.1:{port}{ready_path}"
        command = [sys.executable, "-m", module]
        pid = stack.enter_context(process(command, env, ready_url, folder / f"{name}.log"))
        ports[name] = (port, pid)
    return Bench(bootstrap, prefix + EVENTS, ports)


def measure(
    bench: Bench, requests: dict[str, list[bytes]], args: argparse.Namespace
) -> tuple[dict[str, list[loadgen.Result]], dict[str, CpuUse]]:
    """The warm-up, then alternating rounds of each; the results by round and the CPU used."""
    warmup, per_round = args.warmup, args.requests // args.rounds
    for name, (port, _) in bench.ports.items():
        asyncio.run(loadgen.run(port, requests[name][:warmup], connections=args.connections))
    results: dict[str, list[loadgen.Result]] = {name: [] for name in bench.ports}
    cpu: dict[str, CpuUse] = {}
    for n in range(args.rounds):
        for name, (port, pid) in bench.ports.items():
            batch = requests[name][warmup + n * per_round : warmup + (n + 1) * per_round]
            before = cpu_seconds(pid)
            results[name].append(
                asyncio.run(loadgen.run(port, batch, connections=args.connections))
            )
            used = cpu_seconds(pid) - before
            cpu[name] = cpu[name] + used if name in cpu else used
    return results, cpu


def main() -> int:
    args = parse_args()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        bench = start(stack, Path(scratch), secret)
        say(f"bench-ingest: {args.requests} signed webhooks each, {args.connections} connections, "
            f"{args.rounds} alternating rounds, broker {bench.bootstrap}")  # fmt: skip
        # signed just before, so that the timestamps are fresh
        count = args.warmup + args.requests // args.rounds * args.rounds
        requests = {name: signed_requests(port, secret, count)
                    for name, (port, _) in bench.ports.items()}  # fmt: skip
        results, cpu = measure(bench, requests, args)
        produced = asyncio.run(count_events(bench.bootstrap, bench.events_topic))
    return conclude(results, cpu, produced, sent=count, warmup=args.warmup)


def conclude(
    results: dict[str, list[loadgen.Result]], cpu: dict[str, CpuUse], produced: list[str],
    *, sent: int, warmup: int,
) -> int:  # fmt: skip
    """Print the table and the verdicts, write bench/results/ingest.json; 1 if events were
    lost or doubled."""
    bare, ingest = (
        loadgen.Result.combined(results["bare"]),
        loadgen.Result.combined(results["ingest"]),
    )
    accepted = ingest.statuses.get(200, 0) + warmup
    lost, doubled = accepted - len(set(produced)), len(produced) - len(set(produced))
    ratio = ingest.throughput / bare.throughput
    by_round = sorted(
        i.throughput / b.throughput for b, i in zip(results["bare"], results["ingest"], strict=True)
    )
    p99 = ingest.percentile(0.99)
    for name, result in (("bare", bare), ("ingest", ingest)):
        report(name, result)
        report_cpu(result, cpu[name])
    say(f"  ratio    {ratio:.2f} x the bare endpoint (target >= {TARGET_RATIO}; by round "
        f"{', '.join(f'{r:.2f}' for r in by_round)})   "
        f"p99 {p99:.2f} ms (target <= {TARGET_P99_MS:.0f})")  # fmt: skip
    say(f"  topic    {len(produced)} events for {accepted} accepted webhooks "
        f"({sent} sent): lost {lost}, duplicated {doubled}")  # fmt: skip
    verdicts = {"throughput": ratio >= TARGET_RATIO, "p99": p99 <= TARGET_P99_MS,
                "nothing lost or doubled": lost == 0 and doubled == 0}  # fmt: skip
    say(
        "  targets  " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdicts.items())
    )
    write_results("ingest", {
        "requests": ingest.requests, "baseline_per_s": round(bare.throughput),
        "ingest_per_s": round(ingest.throughput), "ratio": round(ratio, 3),
        "ratio_by_round": [round(r, 3) for r in by_round], "p50_ms": round(ingest.median_ms, 2),
        "p99_ms": round(p99, 2), "lost": lost, "duplicated": doubled,
    })  # fmt: skip
    return 0 if verdicts["nothing lost or doubled"] else 1


if __name__ == "__main__":
    sys.exit(main())
