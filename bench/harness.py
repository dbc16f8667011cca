"""What every benchmark stands on: Apache Kafka (or the broker named by KAFKA_BOOTSTRAP_SERVERS),
a PostgreSQL database migrated for the services under test, the processes measured, and where the
machine's CPU and memory went (from Linux's /proc; zero where a part runs elsewhere)."""

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.migrate import upgrade
from stack.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def process(
    args: list[str], env: dict[str, str], ready_url: str | None, log: Path
) -> Iterator[int]:
    """A child process (its output in `log`) once `ready_url` answers, or at once without one;
    stopped with SIGTERM when the block ends."""
    with log.open("wb") as out:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while ready_url is not None and not _answers(ready_url):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield child.pid
    finally:
        child.terminate()
        child.wait(30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310
            return True
    except OSError as exc:
        return getattr(exc, "code", 0) in (404, 405)


def kafka_bootstrap(stack: ExitStack) -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    up = subprocess.run(
        [sys.executable, "-m", "stack.apache_kafka", "up"], cwd=ROOT, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    stack.callback(subprocess.run, [sys.executable, "-m", "stack.apache_kafka", "down"],
                   cwd=ROOT, check=False, capture_output=True)  # fmt: skip
    return up.stdout.strip().split("=", 1)[1]


async def prepare_database(postgres: EmbeddedPostgres, services: tuple[str, ...]) -> str:
    """A fresh database `bench` with the schemas of `services` migrated to head; its URL."""
    admin = await asyncpg.connect(postgres.url(driver="postgresql"))
    await admin.execute('CREATE DATABASE "bench"')
    await admin.close()
    url = postgres.url("bench")
    await asyncio.to_thread(upgrade, url, services)
    return url


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds by role (Linux /proc; zero where a part runs elsewhere) and wall seconds."""

    service: float
    broker: float
    database: float
    load_generator: float
    machine_busy: float  # CPU seconds of the whole machine, every process
    cores: int

    def __sub__(self, earlier: "CpuUse") -> "CpuUse":
        return self._combine(earlier, -1)

    def __add__(self, more: "CpuUse") -> "CpuUse":
        return self._combine(more, 1)

    def _combine(self, other: "CpuUse", sign: int) -> "CpuUse":
        return CpuUse(
            self.service + sign * other.service, self.broker + sign * other.broker,
            self.database + sign * other.database,
            self.load_generator + sign * other.load_generator,
            self.machine_busy + sign * other.machine_busy, self.cores,
        )  # fmt: skip


def cpu_seconds(service_pid: int) -> CpuUse:
    """Where the machine's CPU goes: the service under test, the broker, the database and this
    process (the load generator), each as user + system seconds so far."""
    tick = os.sysconf("SC_CLK_TCK")
    broker = database = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
                if b"kafka.Kafka" in command:
                    broker += _process_cpu(entry.name, tick)
                elif (entry / "comm").read_text().strip() == "postgres":
                    database += _process_cpu(entry.name, tick)
            except OSError:
                continue  # gone meanwhile
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    idle = int(fields[3]) + int(fields[4])
    busy = (sum(int(f) for f in fields[:8]) - idle) / tick
    return CpuUse(_process_cpu(str(service_pid), tick), broker, database,
                  _process_cpu(str(os.getpid()), tick), busy, os.cpu_count() or 1)  # fmt: skip


def _process_cpu(pid: str, tick: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / tick  # utime, stime


def running(pid: int) -> bool:
    """Whether `pid` is alive (an exited child not yet waited for is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's memory as /proc/<pid>/status tells it: VmRSS now, VmHWM its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) / 1024  # kB
    raise ValueError(f"no {field} for pid {pid}")
