"""A real Apache Kafka broker (single-node KRaft) from Maven Central jars, without Docker.

    python -m stack.apache_kafka up       # start or reuse; prints KAFKA_BOOTSTRAP_SERVERS=host:port
    python -m stack.apache_kafka down     # stop it and delete its data
    python -m stack.apache_kafka status   # the running broker as JSON; exit 1 when none
    python -m stack.apache_kafka version  # Kafka version of the cached jars

Maven resolves deploy/kafka/pom.xml into .cache/kafka/libs, again only when the pom
changes. The broker's state file, logs and data directory live in .cache/kafka as well.
Only the standard library is used so this runs before any project dependency is installed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY_DIR = REPO / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
LOG_CONFIG = DEPLOY_DIR / "log4j2.yaml"

STATE_DIR = REPO / ".cache" / "kafka"
LIBS_DIR = STATE_DIR / "libs"
POM_HASH_FILE = LIBS_DIR / ".pom.sha256"
DATA_DIR = STATE_DIR / "data"
PROPERTIES_FILE = DATA_DIR / "server.properties"
STATE_FILE = STATE_DIR / "state.json"
LOCK_FILE = STATE_DIR / ".lock"
CONSOLE_LOG = STATE_DIR / "kafka.out"
SERVER_LOG = STATE_DIR / "server.log"

HOST = "127.0.0.1"
MIN_JAVA = 17
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
KILL_TIMEOUT_S = 5.0
# The heap asked for, plus the GC settings bin/kafka-run-class.sh uses.
JVM_OPTS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
API_VERSIONS_KEY = 18
KAFKA_JAR = re.compile(r"kafka_2\.13-(?P<version>[^-]+(?:-[A-Za-z0-9]+)?)\.jar")


class StackError(Exception):
    """A failure reported as one message and exit status 1."""


@dataclass(frozen=True)
class BrokerState:
    pid: int
    bootstrap: str
    controller: str
    version: str
    data_dir: str
    log: str
    started_at: str

    @property
    def port(self) -> int:
        return int(self.bootstrap.rpartition(":")[2])


def say(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def emit_bootstrap(bootstrap: str) -> None:
    sys.stdout.write(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n")
    sys.stdout.flush()


# --- prerequisites -----------------------------------------------------------------------


def java_binary() -> str:
    """The `java` of JAVA_HOME or PATH, checked to be at least Java 17."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", "java") if home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise StackError(
            f"`java` not found: install a JDK/JRE {MIN_JAVA}+ "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    major = java_major(probe.stderr + probe.stdout)
    if major is None or major < MIN_JAVA:
        raise StackError(f"{java} is Java {major or '?'}; Kafka needs Java {MIN_JAVA}+")
    return java


def java_major(version_output: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def kafka_version() -> str | None:
    """The version in the cached kafka_2.13-<version>.jar name, if the cache is filled."""
    for jar in sorted(LIBS_DIR.glob("kafka_2.13-*.jar")):
        if match := KAFKA_JAR.fullmatch(jar.name):
            return match.group("version")
    return None


def ensure_libs() -> None:
    """Fill LIBS_DIR with the pom's runtime classpath unless it is already there and current."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if kafka_version() is not None and read_text(POM_HASH_FILE) == digest:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("`mvn` not found: install Maven 3.8+ (e.g. apt-get install maven)")
    staging = STATE_DIR / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    say(f"resolving the Kafka jars of {POM.relative_to(REPO)} with Maven ...")
    command = [
        mvn, "-q", "-B", "-f", str(POM),
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise StackError(f"mvn exited with {result.returncode} resolving {POM}:\n{output}")
    (staging / POM_HASH_FILE.name).write_text(digest)
    shutil.rmtree(LIBS_DIR, ignore_errors=True)
    staging.rename(LIBS_DIR)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


# --- processes ---------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = read_text(Path(f"/proc/{pid}/stat"))
    # A zombie nobody reaped (e.g. in a container without an init) is gone for our purposes.
    return stat is None or stat.rpartition(")")[2].split()[0] != "Z"


def runs_our_broker(pid: int) -> bool:
    """Whether `pid` is alive and, where /proc can tell, is kafka.Kafka on our properties."""
    if not pid_alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no procfs: trust the pid
    return b"kafka.Kafka" in args and str(PROPERTIES_FILE).encode() in args


def stray_brokers() -> set[int]:
    """Brokers on our data directory that no state file records (e.g. after a lost state.json)."""
    found: set[int] = set()
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(ValueError):
            if runs_our_broker(int(entry.name)):
                found.add(int(entry.name))
    return found


def send_signal(pid: int, signum: signal.Signals) -> None:
    """Signal the process group `pid` leads (the broker runs in its own session), else `pid`."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def terminate(pid: int) -> None:
    send_signal(pid, signal.SIGTERM)
    if wait_gone(pid, STOP_TIMEOUT_S):
        return
    say(f"broker pid {pid} ignored SIGTERM for {STOP_TIMEOUT_S:.0f}s; sending SIGKILL")
    send_signal(pid, signal.SIGKILL)
    if not wait_gone(pid, KILL_TIMEOUT_S):
        raise StackError(f"broker pid {pid} survived SIGKILL")


# --- the Kafka wire protocol, just enough to ask "are you serving?" ------------------------


def api_versions_ok(port: int, timeout: float = 2.0) -> bool:
    """Send ApiVersions v0 (request header v1) and expect error_code 0 back."""
    correlation_id = 0x5C12
    client_id = b"scrm-stack"
    request = struct.pack(">hhih", API_VERSIONS_KEY, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size: int = struct.unpack(">i", recv_exactly(sock, 4))[0]
            if not 6 <= size <= 1 << 20:
                return False
            response = recv_exactly(sock, size)
    except OSError:
        return False
    answered: tuple[int, int] = struct.unpack_from(">ih", response)
    return answered == (correlation_id, 0)


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < count:
        chunk = sock.recv(count - len(buffer))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        buffer += chunk
    return bytes(buffer)


# --- state -------------------------------------------------------------------------------


def load_state() -> BrokerState | None:
    try:
        return BrokerState(**json.loads(STATE_FILE.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_state(state: BrokerState) -> None:
    partial = STATE_FILE.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(STATE_FILE)


def serving(state: BrokerState | None) -> bool:
    return state is not None and runs_our_broker(state.pid) and api_versions_ok(state.port)


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """Serialise up/down, e.g. when several test sessions start at once."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stop_all(state: BrokerState | None) -> bool:
    """Stop the recorded and any stray broker, then drop state and data. True if one ran."""
    pids = stray_brokers()
    if state is not None and runs_our_broker(state.pid):
        pids.add(state.pid)
    for pid in sorted(pids):
        say(f"stopping Kafka broker pid {pid} ...")
        terminate(pid)
    STATE_FILE.unlink(missing_ok=True)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    return bool(pids)


# --- starting a broker -------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def cluster_id() -> str:
    """A random Kafka Uuid: 16 bytes in unpadded URL-safe base64, never starting with '-'."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not encoded.startswith("-"):
            return encoded


def server_properties(port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(DATA_DIR / "logs"),
        "num.partitions": "3",
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.num.partitions": "1",
        "group.min.session.timeout.ms": "1000",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def java_command(java: str, main_class: str, *args: str, logs_dir: Path) -> list[str]:
    return [
        java,
        *JVM_OPTS,
        f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        f"-Dkafka.logs.dir={logs_dir}",
        "-cp",
        str(LIBS_DIR / "*"),
        main_class,
        *args,
    ]


def format_storage(java: str) -> None:
    # The format step logs into the data dir so it does not clobber the broker's server.log.
    command = java_command(
        java, "kafka.tools.StorageTool", "format", "-t", cluster_id(),
        "-c", str(PROPERTIES_FILE), logs_dir=DATA_DIR,
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise StackError(f"kafka-storage format failed:\n{result.stdout}{result.stderr}")


def launch(java: str) -> subprocess.Popen[bytes]:
    SERVER_LOG.unlink(missing_ok=True)  # a tail shown on failure must not be the last run's
    with CONSOLE_LOG.open("wb") as console:
        return subprocess.Popen(  # noqa: S603
            java_command(java, "kafka.Kafka", str(PROPERTIES_FILE), logs_dir=STATE_DIR),
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=DATA_DIR,
            start_new_session=True,
        )


def log_tail(lines: int = 40) -> str:
    parts = []
    for path in (CONSOLE_LOG, SERVER_LOG):
        text = read_text(path)
        if text:
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {path.relative_to(REPO)} (last {lines} lines) ---\n{tail}")
    return "\n".join(parts) or "(the broker wrote no log)"


def wait_until_serving(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not api_versions_ok(port):
        if (code := process.poll()) is not None:
            raise StackError(f"the broker exited with status {code}\n{log_tail()}")
        if time.monotonic() >= deadline:
            raise StackError(f"the broker did not answer within {timeout:g}s\n{log_tail()}")
        time.sleep(0.25)


def start_broker(java: str, timeout: float) -> BrokerState:
    DATA_DIR.mkdir(parents=True)
    port, controller_port = free_ports(2)
    PROPERTIES_FILE.write_text(server_properties(port, controller_port))
    format_storage(java)
    process = launch(java)
    try:
        wait_until_serving(process, port, timeout)
    except BaseException:
        terminate(process.pid)
        raise
    pid = process.pid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # it is meant to outlive this process
        del process
    return BrokerState(
        pid=pid,
        bootstrap=f"{HOST}:{port}",
        controller=f"{HOST}:{controller_port}",
        version=kafka_version() or "unknown",
        data_dir=str(DATA_DIR),
        log=str(SERVER_LOG),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


# --- commands ----------------------------------------------------------------------------


def cmd_up(timeout: float) -> int:
    with state_lock():
        state = load_state()
        if state is not None and serving(state):
            say(f"Apache Kafka {state.version} already running (pid {state.pid})")
            emit_bootstrap(state.bootstrap)
            return 0
        java = java_binary()
        ensure_libs()
        if stop_all(state):
            say("stopped a leftover broker that was not answering or not recorded")
        started = time.monotonic()
        state = start_broker(java, timeout)
        save_state(state)
    say(
        f"Apache Kafka {state.version} up in {time.monotonic() - started:.1f}s "
        f"(pid {state.pid}, log {SERVER_LOG.relative_to(REPO)})"
    )
    emit_bootstrap(state.bootstrap)
    return 0


def cmd_down() -> int:
    with state_lock():
        stopped = stop_all(load_state())
    say("Kafka broker stopped" if stopped else "no Kafka broker was running")
    return 0


def cmd_status() -> int:
    state = load_state()
    if state is not None and serving(state):
        sys.stdout.write(json.dumps(asdict(state), indent=2) + "\n")
        return 0
    if state is not None:
        say(f"stale state: pid {state.pid} is not serving {state.bootstrap}")
    sys.stdout.write("not running\n")
    return 1


def cmd_version() -> int:
    version = kafka_version()
    if version is None:
        raise StackError(f"no Kafka jars in {LIBS_DIR}; run `python -m stack.apache_kafka up`")
    sys.stdout.write(f"Apache Kafka {version}\n")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stack.apache_kafka",
        description="Run a single-node KRaft Apache Kafka broker from Maven Central jars.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a broker (or reuse the running one)")
    up.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        help=f"seconds to wait for the broker to answer (default {START_TIMEOUT_S:.0f})",
    )
    commands.add_parser("down", help="stop the broker and delete its data")
    commands.add_parser("status", help="print the running broker; exit 1 when none")
    commands.add_parser("version", help="print the Kafka version of the cached jars")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "up":
            return cmd_up(args.timeout)
        if args.command == "down":
            return cmd_down()
        if args.command == "status":
            return cmd_status()
        return cmd_version()
    except StackError as error:
        say(f"apache_kafka: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
