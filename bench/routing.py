"""``make bench-routing``: responder's routing queue on Apache Kafka: how fast 50 agents working
a queue claim their next conversation through the agent API, and how many claims a second it
can take at most, each against a bare endpoint measured in the same run; and how soon a fan's
message accepted by ingest is a conversation in the queue.

1. Claims, paced. Open conversations, one fan each, are written into responder's database as
   responder writes a fan's first message (`bench.sla_seed`: enough that the queue never runs
   dry), their first-reply deadlines over a minute ten minutes ahead. 50 agents are added
   through the admin API and go online. Each agent, on a keep-alive connection of its own,
   works the queue as an agent does (`bench.routing_claims`): it claims the next conversation
   (`POST /v1/agent/claim-next`), works on it for a while (`--work-seconds`, 1 s on average:
   each pause uniform in 0.5-1.5 x that, from a seeded generator, so both sides get the same
   schedule), resolves it and claims again; the agents start one after another over one work
   period, so they do not all claim in the same instant. Only claims are timed, at the client,
   and the claim targets are judged on these rounds: the latency an agent waits when 50 are at
   work. (Back to back, with no work, `--work-seconds 0`, the loop is closed and latency is
   only 50 / throughput, Little's law: each claim waits behind the other agents' requests, so
   it tells the capacity, not what an agent waits.) Responder runs with pull routing only
   (RESPONDER_PUSH_ROUTING=false): its offers would hold conversations aside for the same
   agents, and set away an agent who lets two lapse.
2. Baseline: the same agents, loop and pauses, the same load generator, against a bare FastAPI
   endpoint at the same path that runs one asyncpg query on the same database (`bench.bare`:
   the head of the queue, read, not taken), in a process of its own like responder. After a
   warm-up of each, both are measured in alternating rounds (bare, responder, bare, ...), so
   that a shared machine's slow and fast spells fall on both alike.
3. Capacity. One round of each side (`--saturation-seconds`, 10 s; 0 skips it) with the agents
   claiming and resolving back to back: the most claims a second each side sustains, and the
   latency then; against the paced rounds' claims a second, the headroom.
4. Check: no conversation held by two agents, over every claim of every phase. A resolved
   conversation never comes back to the queue, so no two claim answers may name one
   conversation; and in the database each one an answer named is held by that answer's agent,
   and none is held by an agent no answer named.
5. Webhook -> queue. The conversations nobody claimed are removed (their SLA warnings would
   fire meanwhile). Signed fan messages (Standard Webhooks), one fan each, are offered to ingest
   at 1,000/s for 30 s after a short warm-up (`bench.routing_webhooks`); each opens a
   conversation. Latency: the commit time of the transaction that put the conversation in
   responder's queue (PostgreSQL's commit timestamps, turned on for this server) minus the
   moment ingest's 2xx arrived; exact p50/p99 over all of them, once all are in. (Their reply
   clocks warn 8 minutes after they were sent: a responder slower than that to queue them all
   has those warnings to tell too.)

Targets: claim p99 <= 25 ms, in the paced rounds; webhook -> queue p99 <= 1,000 ms; no
conversation held by two agents. Exits 1 when one was, when an accepted webhook never reached
the queue, or when the claims found the queue empty or failed (the figures would not be of a
full queue); speed targets are reported, met or missed.
"""

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import routing_claims, routing_webhooks, sla_seed
from bench.harness import ROOT, CpuUse, cpu_seconds, kafka_bootstrap, prepare_database, running
from bench.harness import process as child_process
from bench.routing_claims import BACK_TO_BACK, Agent, ClaimRun, Pacing
from bench.routing_report import Claims, Holds, Phase, Webhooks, conclude
from bench.routing_webhooks import Answer
from bench.sla_load import FIRST_REPLY, Window
from shared.db import asyncpg_dsn
from shared.topics import ensure_topics
from stack.embedded import EmbeddedPostgres, free_port

SEED_SPAN_SECONDS = 60.0  # the seeded fans wrote over the last minute
SIDES = ("bare", "responder")  # in the order of each round
HOLDERS = "SELECT id::text, assignee_id FROM responder.conversations WHERE assignee_id IS NOT NULL"
REMOVE_UNCLAIMED = (
    "DELETE FROM responder.sla_clocks c USING responder.conversations v"
    " WHERE v.id = c.conversation_id AND v.assignee_id IS NULL",
    "DELETE FROM responder.conversation_messages m USING responder.conversations v"
    " WHERE v.id = m.conversation_id AND v.assignee_id IS NULL",
    "DELETE FROM responder.conversations WHERE assignee_id IS NULL",
)


@dataclass(frozen=True)
class Bench:
    bootstrap: str
    dsn: str  # asyncpg's
    admin_token: str
    secret: str  # the webhooks' account's
    servers: dict[str, tuple[int, int]]  # bare, responder, ingest: (port, pid)

    def port(self, name: str) -> int:
        return self.servers[name][0]

    def pid(self, name: str) -> int:
        return self.servers[name][1]


def start(stack: ExitStack, folder: Path, args: argparse.Namespace) -> Bench:
    """Apache Kafka (or the named broker) with fresh topics; PostgreSQL (fsync off, as for the
    other benchmarks; commit timestamps on) with ingest's and responder's schemas; the bare
    endpoint, responder and ingest."""
    bootstrap = kafka_bootstrap(stack)
    postgres = EmbeddedPostgres(folder / "pg", durable=False).start()
    stack.callback(postgres.stop)
    track_commit_timestamps(postgres)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    asyncio.run(ensure_topics(bootstrap, prefix=prefix, partitions=args.partitions))
    database_url = asyncio.run(prepare_database(postgres, ("ingest", "responder")))
    admin_token, secret = secrets.token_urlsafe(24), webhook_secret()
    accounts = folder / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [{"platform": "standard", "secret": secret,
                        "account_id": routing_webhooks.ACCOUNT}]}))  # fmt: skip
    ports = {name: free_port() for name in ("bare", "responder", "ingest")}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SCRM_DATABASE_URL": database_url, "SCRM_TOPIC_PREFIX": prefix,
           "SCRM_KAFKA_IDEMPOTENCE": "true", "SCRM_LOG_LEVEL": "WARNING",
           "BARE_PORT": str(ports["bare"]), "BARE_DATABASE_URL": asyncpg_dsn(database_url),
           "RESPONDER_HTTP_PORT": str(ports["responder"]), "RESPONDER_ADMIN_TOKEN": admin_token,
           "RESPONDER_PUSH_ROUTING": "false", "INGEST_HTTP_PORT": str(ports["ingest"]),
           "INGEST_ACCOUNTS_FILE": str(accounts)}  # fmt: skip
    servers = {}
    for name, module, ready in (("bare", "bench.bare", "/"),
                                ("responder", "services.responder", "/readyz"),
                                ("ingest", "services.ingest", "/readyz")):  # fmt: skip
        url, command = f"http://127.0.0.1:{ports[name]}{ready}", [sys.executable, "-m", module]
        pid = stack.enter_context(child_process(command, env, url, folder / f"{name}.log"))
        servers[name] = (ports[name], pid)
    return Bench(bootstrap, asyncpg_dsn(database_url), admin_token, secret, servers)


def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def track_commit_timestamps(postgres: EmbeddedPostgres) -> None:
    """Turn on `track_commit_timestamp`, which PostgreSQL reads only as it starts: a restart."""

    async def turn_on() -> None:
        connection = await asyncpg.connect(postgres.url(driver="postgresql"))
        try:
            await connection.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        finally:
            await connection.close()

    asyncio.run(turn_on())
    postgres.stop()
    postgres.start()


def seed_queue(bench: Bench, count: int) -> float:
    """`count` open conversations whose fans wrote over the last minute; the seconds taken."""
    started = time.time()
    first_deadline = started + FIRST_REPLY.total_seconds() - SEED_SPAN_SECONDS
    deadlines = Window(first_deadline, SEED_SPAN_SECONDS, count).deadlines(seed=1)
    asyncio.run(sla_seed.seed(bench.dsn, "queue", deadlines))
    return time.time() - started


def measure_claims(bench: Bench, agents: list[Agent], args: argparse.Namespace) -> Claims:
    """The warm-up of each, then alternating paced rounds, then one round of each back to back;
    every claim responder answered, the measured ones, and the CPU each side used."""
    warm = {name: claim_round(bench, name, agents, args.claim_warmup, paced(args, "warm-up"))[0]
            for name in SIDES}  # fmt: skip
    seconds = args.claim_seconds / args.rounds
    schedules = [(seconds, paced(args, f"round {n}")) for n in range(1, args.rounds + 1)]
    rounds = both_sides(bench, agents, schedules, "paced round")
    saturation = None
    if args.saturation_seconds > 0:
        schedules = [(args.saturation_seconds, BACK_TO_BACK)]
        saturation = both_sides(bench, agents, schedules, "back to back, round")
    return Claims(len(agents), args.queue, args.work_seconds, warm["responder"], rounds,
                  saturation)  # fmt: skip


def paced(args: argparse.Namespace, schedule: str) -> Pacing:
    """Agents working `--work-seconds` a claim, on the schedule of `--seed` and `schedule`."""
    return Pacing(args.work_seconds, f"{args.seed}/{schedule}")


def both_sides(
    bench: Bench, agents: list[Agent], schedules: list[tuple[float, Pacing]], label: str
) -> Phase:
    """A round of each side in turn for each (seconds, pacing), bare first, so that a shared
    machine's slow and fast spells fall on both alike."""
    phase = Phase({name: [] for name in SIDES}, {})
    for n, (seconds, pacing) in enumerate(schedules, start=1):
        for name in SIDES:
            done, used = claim_round(bench, name, agents, seconds, pacing)
            phase.runs[name].append(done)
            phase.cpu[name] = phase.cpu[name] + used if name in phase.cpu else used
        progress(f"{label} {n}: responder {phase.runs['responder'][-1].timing.throughput:.0f} "
                 f"claims/s, bare {phase.runs['bare'][-1].timing.throughput:.0f}")  # fmt: skip
    return phase


def claim_round(
    bench: Bench, name: str, agents: list[Agent], seconds: float, pacing: Pacing
) -> tuple[ClaimRun, CpuUse]:
    """The agents' loop against one side for `seconds`; the CPU used meanwhile."""
    before = cpu_seconds(bench.pid(name))
    done = asyncio.run(routing_claims.run(bench.port(name), agents, seconds=seconds,
                                          pacing=pacing))  # fmt: skip
    return done, cpu_seconds(bench.pid(name)) - before


async def holds(bench: Bench, claims: Claims) -> Holds:
    """Who holds what in responder's database, against what the claims answered."""
    connection = await asyncpg.connect(bench.dsn)
    try:
        rows = await connection.fetch(HOLDERS)
    finally:
        await connection.close()
    return Holds.of(claims.every_claim(), {row["id"]: row["assignee_id"] for row in rows})


async def remove_unclaimed(bench: Bench) -> None:
    """The seeded conversations nobody claimed: their SLA warnings, due minutes from now, would
    fire while the webhooks are measured."""
    connection = await asyncpg.connect(bench.dsn)
    try:
        async with connection.transaction():
            for statement in REMOVE_UNCLAIMED:
                await connection.execute(statement)
    finally:
        await connection.close()


def offer_webhooks(bench: Bench, args: argparse.Namespace, count: int, wave: str) -> list[Answer]:
    """`count` fan messages of `wave`, signed now, offered at the rate; ingest's answers."""
    webhooks = routing_webhooks.signed(bench.port("ingest"), bench.secret, count, wave=wave)
    return asyncio.run(routing_webhooks.offer(bench.port("ingest"), webhooks, rate=args.rate,
                                              connections=args.connections))  # fmt: skip


def measure_webhooks(bench: Bench, args: argparse.Namespace) -> Webhooks:
    """The warm-up's webhooks, until responder has them all, then the measured ones."""
    pid = bench.pid("responder")
    warm = offer_webhooks(bench, args, args.webhook_warmup, "warm")
    accepted = sum(1 for answer in warm if 200 <= answer.status < 300)
    asyncio.run(routing_webhooks.queued(bench.dsn, expected=accepted, alive=lambda: running(pid)))
    progress(f"webhook warm-up: {accepted} in the queue; {args.rate:.0f}/s offered for "
             f"{args.webhook_seconds:.0f} s")  # fmt: skip
    answers = offer_webhooks(bench, args, round(args.rate * args.webhook_seconds), "w")
    accepted += sum(1 for answer in answers if 200 <= answer.status < 300)
    progress("webhooks sent; waiting for responder to queue them all")
    queued = asyncio.run(
        routing_webhooks.queued(bench.dsn, expected=accepted, alive=lambda: running(pid))
    )
    return Webhooks(args.rate, args.webhook_seconds, answers, queued)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--agents", type=int, default=50, help="claiming at once, each on its own connection")
    add("--queue", type=int, default=40_000,
        help="conversations seeded: more than responder's claims of every round")  # fmt: skip
    add("--work-seconds", type=float, default=1.0,
        help="an agent works on a claim this long on average (0.5-1.5 x) before resolving it;"
             " 0: claims again at once")  # fmt: skip
    add("--seed", type=int, default=1, help="of the agents' work schedule")
    add("--claim-seconds", type=float, default=30, help="measured, paced, for each side")
    add("--rounds", type=int, default=3, help="alternating paced rounds of each side")
    add("--claim-warmup", type=float, default=5, help="seconds, paced, for each side")
    add("--saturation-seconds", type=float, default=10,
        help="one round of each side back to back after the paced ones, for the capacity;"
             " 0: none")  # fmt: skip
    add("--rate", type=float, default=1_000, help="webhooks offered a second")
    add("--webhook-seconds", type=float, default=30, help="measured")
    add("--webhook-warmup", type=int, default=500, help="webhooks before the measured ones")
    add("--connections", type=int, default=32, help="to ingest")
    add("--partitions", type=int, default=6)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # stopped from outside: tear down the broker, PostgreSQL and the servers on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        bench = start(stack, Path(scratch), args)
        progress(f"{args.queue} conversations queued in {seed_queue(bench, args.queue):.1f} s; "
                 f"{args.agents} agents claim, broker {bench.bootstrap}")  # fmt: skip
        responder = f"http://127.0.0.1:{bench.port('responder')}"
        agents = asyncio.run(routing_claims.add_agents(responder, bench.admin_token, args.agents))
        claims = measure_claims(bench, agents, args)
        checked = asyncio.run(holds(bench, claims))
        asyncio.run(remove_unclaimed(bench))
        webhooks = measure_webhooks(bench, args)
    return conclude(args, bench.bootstrap, claims, checked, webhooks)


def progress(text: str) -> None:
    """Where the run is, on stderr: the table on stdout comes at the end."""
    sys.stderr.write(f"  ... {time.strftime('%H:%M:%S')} {text}\n")


if __name__ == "__main__":
    sys.exit(main())
