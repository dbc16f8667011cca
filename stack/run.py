"""``make run``: the whole system on one machine, no Docker and no JVM.

Starts PostgreSQL and a Kafka-protocol broker from wheels, migrates every service, creates the
topics, starts the four services as their own processes with prefixed logs (console lines when
this runs in a terminal), prints the URLs and waits. Ctrl-C (SIGINT) or SIGTERM stops the
services first (they drain and commit), then the broker and the database; nothing is left running.

The data folder is locked for the life of the process: one `make run` at a time uses it.
"""

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg

from shared.migrate import SERVICES, upgrade
from shared.topics import ensure_topics
from stack.embedded import EmbeddedBroker, EmbeddedError, EmbeddedPostgres
from stack.processes import LockBusy, locked, spawn, stop_processes

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "scrm"
DEMO_ACCOUNT = "demo-shop"
DEFAULT_PORTS = {"ingest": 8001, "scoring": 8002, "responder": 8003, "coupons": 8004}
COLOURS = {"ingest": 36, "scoring": 32, "responder": 35, "coupons": 33}


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def say(message: str) -> None:
    sys.stdout.write(f"[stack] {message}\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--port-offset", type=int, default=0, help="added to 8001-8004")
    parser.add_argument("--postgres-port", type=int, default=15432)
    parser.add_argument("--kafka-port", type=int, default=19092)
    return parser.parse_args(argv)


def demo_accounts() -> list[dict[str, str]]:
    """Demo brand accounts with secrets made on first run (make smoke signs with them)."""
    return [
        {"platform": "standard", "account_id": DEMO_ACCOUNT,
         "secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()},
        {"platform": "line", "account_id": "demo-line", "channel_secret": secrets.token_hex(16)},
        {"platform": "telegram", "account_id": "demo-bot",
         "secret_token": secrets.token_urlsafe(24)},
    ]  # fmt: skip


def accounts_file(data_dir: Path) -> Path:
    """``data/accounts.json``: the demo accounts, added where missing, the others kept."""
    path = data_dir / "accounts.json"
    accounts = json.loads(path.read_text())["accounts"] if path.exists() else []
    platforms = {account["platform"] for account in accounts}
    missing = [demo for demo in demo_accounts() if demo["platform"] not in platforms]
    if missing:
        path.write_text(json.dumps({"accounts": accounts + missing}, indent=2) + "\n")
        path.chmod(0o600)
    return path


# The operator tokens and secrets the APIs, the agent console and the claim page need, made on
# first run (`data/tokens.json`) so that they work under `make run`; one set in the environment
# wins.
DEMO_TOKENS = (
    "SCORING_OPERATOR_TOKEN", "RESPONDER_ADMIN_TOKEN", "RESPONDER_AGENT_TOKEN",
    "COUPONS_OPERATOR_TOKEN", "COUPONS_CLAIM_LINK_SECRET",
)  # fmt: skip


def tokens_file(data_dir: Path) -> Path:
    """``data/tokens.json``: a token for each of DEMO_TOKENS, added where missing."""
    path = data_dir / "tokens.json"
    tokens = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in DEMO_TOKENS if name not in tokens]
    if missing:
        tokens.update({name: secrets.token_urlsafe(32) for name in missing})
        path.write_text(json.dumps(tokens, indent=2) + "\n")
        path.chmod(0o600)
    return path


def demo_tokens(data_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    tokens: dict[str, str] = json.loads(tokens_file(data_dir).read_text())
    return {name: value for name, value in tokens.items() if name not in environ}


async def prepare(postgres: EmbeddedPostgres, broker: EmbeddedBroker) -> str:
    admin = await asyncpg.connect(postgres.url(driver="postgresql"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = postgres.url(DATABASE)
    await asyncio.to_thread(upgrade, url)
    await ensure_topics(broker.bootstrap_servers)
    return url


def start_service(name: str, port: int, env: dict[str, str]) -> Service:
    # In its own session: Ctrl-C reaches the supervisor only, which stops them in order.
    process = spawn(
        [sys.executable, "-m", f"services.{name}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        death_signal=signal.SIGTERM,
        cwd=ROOT,
        env={**env, f"{name.upper()}_HTTP_PORT": str(port)},
    )
    threading.Thread(target=_relay_output, args=(name, process.stdout), daemon=True).start()
    return Service(name, port, process)


def _relay_output(name: str, stream: IO[bytes] | None) -> None:
    prefix = f"\033[{COLOURS[name]}m{name:>9} |\033[0m " if sys.stdout.isatty() else f"{name} | "
    for line in iter(stream.readline if stream else (lambda: b""), b""):
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


def wait_ready(services: list[Service], stop: threading.Event, deadline_seconds: float) -> bool:
    deadline = time.monotonic() + deadline_seconds
    pending = list(services)
    while pending and time.monotonic() < deadline and not stop.is_set():
        for service in list(pending):
            if service.process.poll() is not None:
                say(f"{service.name} exited with {service.process.returncode}")
                return False
            if _ready(service):
                pending.remove(service)
        time.sleep(0.2)
    return not pending


def _ready(service: Service) -> bool:
    try:
        with urllib.request.urlopen(f"{service.url}/readyz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def stop_services(services: list[Service], grace_seconds: float = 25) -> None:
    killed = stop_processes([s.process for s in services], signal.SIGTERM, grace_seconds)
    for service in services:
        if service.process in killed:
            say(f"{service.name} did not stop in {grace_seconds:g}s and was killed")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        # Held until exit, and dropped by the kernel however this process ends: a second
        # `make run` on the folder is refused at once, never racing the first for its files.
        try:
            held.enter_context(locked(data_dir / ".lock", wait=False))
        except LockBusy as busy:
            holder = busy.holder or "?"
            say(f"{data_dir} is in use by another `make run` (pid {holder}); stop it first")
            return 1
        return supervise(args, data_dir)


def supervise(args: argparse.Namespace, data_dir: Path) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    postgres = EmbeddedPostgres(data_dir / "postgres", durable=True, port=args.postgres_port)
    broker = EmbeddedBroker(data_dir / "broker.log", port=args.kafka_port)
    services: list[Service] = []
    try:
        database_url = start_backing_services(postgres, broker)
        env = service_env(data_dir, broker, database_url)
        services = [
            start_service(name, DEFAULT_PORTS[name] + args.port_offset, env) for name in SERVICES
        ]
        return watch(services, stop, tokens_file(data_dir))
    except EmbeddedError as error:
        say(str(error))
        return 1
    finally:
        say("stopping services (drain, commit, close)")
        stop_services(services)
        broker.stop()
        postgres.stop()
        say("stopped")


def start_backing_services(postgres: EmbeddedPostgres, broker: EmbeddedBroker) -> str:
    """Start PostgreSQL and the broker, migrate and create the topics; the database URL."""
    say(f"PostgreSQL (embedded) on 127.0.0.1:{postgres.port}, data in {postgres.data_dir}")
    postgres.start()
    say(f"Kafka-protocol broker (Tansu, in memory) on {broker.bootstrap_servers}")
    broker.start()
    database_url = asyncio.run(prepare(postgres, broker))
    say("migrations applied, topics created")
    return database_url


def service_env(data_dir: Path, broker: EmbeddedBroker, database_url: str) -> dict[str, str]:
    return {
        **demo_tokens(data_dir, os.environ),
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCRM_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "SCRM_DATABASE_URL": database_url,
        "SCRM_KAFKA_IDEMPOTENCE": "false",  # Tansu has no InitProducerId
        "INGEST_ACCOUNTS_FILE": str(accounts_file(data_dir)),
        **child_log_env(os.environ, terminal=sys.stdout.isatty()),
    }


def child_log_env(environ: Mapping[str, str], *, terminal: bool) -> dict[str, str]:
    """The services write into pipes, so they cannot see the terminal their lines end up on:
    when this process writes to one, it asks them for console lines, unless told otherwise."""
    if not terminal or "SCRM_LOG_JSON" in environ:
        return {}
    return {"SCRM_LOG_JSON": "false"}


def watch(services: list[Service], stop: threading.Event, tokens_path: Path) -> int:
    """Announce the services once all are ready, then wait for Ctrl-C or for one to exit."""
    if not wait_ready(services, stop, deadline_seconds=90):
        say("the services did not all become ready; stopping")
        return 0 if stop.is_set() else 1
    announce(services, tokens_path)
    while not stop.wait(0.5):
        crashed = [s for s in services if s.process.poll() is not None]
        if crashed:
            say(f"{crashed[0].name} exited with {crashed[0].process.returncode}; stopping")
            return 1
    return 0


def announce(services: list[Service], tokens_path: Path) -> None:
    say("all four services are ready:")
    for service in services:
        say(f"  {service.name:<10} {service.url}   ({service.url}/docs, /metrics, /readyz)")
    say(f"webhook: POST {services[0].url}/v1/webhooks/standard/{DEMO_ACCOUNT} (make smoke)")
    say(f"agent console: {services[2].url}/console; the operator tokens (add agents, campaigns, "
        f"API keys) are in {tokens_path}")  # fmt: skip
    say("Ctrl-C stops everything")


if __name__ == "__main__":
    sys.exit(main())
