"""Configuring, starting and stopping the single-node KRaft broker."""

import base64
import functools
import shutil
import subprocess
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

from stack.apache_kafka import StackError, say
from stack.apache_kafka.jars import kafka_version
from stack.apache_kafka.paths import (
    CONSOLE_LOG,
    DATA_DIR,
    LIBS_DIR,
    LOG_CONFIG,
    PROPERTIES_FILE,
    REPO,
    SERVER_LOG,
    STATE_DIR,
    STATE_FILE,
)
from stack.apache_kafka.state import BrokerState
from stack.apache_kafka.wire import api_versions_ok
from stack.processes import (
    HOST,
    StartFailed,
    free_ports,
    pid_alive,
    process_args,
    read_text,
    running_pids,
    spawn,
    terminate_group,
    wait_until,
)

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


# --- configuring -------------------------------------------------------------------------


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


# --- starting ----------------------------------------------------------------------------


def start_broker(java: str, timeout: float) -> BrokerState:
    DATA_DIR.mkdir(parents=True)
    port, controller_port = free_ports(2)
    PROPERTIES_FILE.write_text(server_properties(port, controller_port))
    format_storage(java)
    pid = launch_and_wait(java, port, timeout)
    return BrokerState(
        pid=pid,
        bootstrap=f"{HOST}:{port}",
        controller=f"{HOST}:{controller_port}",
        version=kafka_version() or "unknown",
        data_dir=str(DATA_DIR),
        log=str(SERVER_LOG),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def launch_and_wait(java: str, port: int, timeout: float) -> int:
    """The pid of a broker that answers on `port`; it is meant to outlive this process."""
    SERVER_LOG.unlink(missing_ok=True)  # a tail shown on failure must not be the last run's
    command = java_command(java, "kafka.Kafka", str(PROPERTIES_FILE), logs_dir=STATE_DIR)
    with CONSOLE_LOG.open("wb") as console:
        process = spawn(
            command, stdout=console, stderr=subprocess.STDOUT, death_signal=None, cwd=DATA_DIR
        )
    try:
        ready = functools.partial(api_versions_ok, port)
        wait_until(ready, process=process, what="the broker", timeout=timeout, interval=0.25)
    except StartFailed as failed:
        terminate(process.pid)
        raise StackError(f"{failed}\n{log_tail()}") from None
    except BaseException:
        terminate(process.pid)
        raise
    pid = process.pid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # Popen warns of a child still running
        del process
    return pid


def log_tail(lines: int = 40) -> str:
    parts = []
    for path in (CONSOLE_LOG, SERVER_LOG):
        text = read_text(path)
        if text:
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {path.relative_to(REPO)} (last {lines} lines) ---\n{tail}")
    return "\n".join(parts) or "(the broker wrote no log)"


# --- finding and stopping ----------------------------------------------------------------


def serving(state: BrokerState | None) -> bool:
    return state is not None and runs_our_broker(state.pid) and api_versions_ok(state.port)


def runs_our_broker(pid: int) -> bool:
    """Whether `pid` is alive and, where /proc can tell, is kafka.Kafka on our properties."""
    if not pid_alive(pid):
        return False
    args = process_args(pid)
    return args is None or ("kafka.Kafka" in args and str(PROPERTIES_FILE) in args)


def stray_brokers() -> set[int]:
    """Brokers on our data directory that no state file records (e.g. after a lost state.json)."""
    return {pid for pid in running_pids() if runs_our_broker(pid)}


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


def terminate(pid: int) -> None:
    if not terminate_group(pid, timeout=STOP_TIMEOUT_S, kill_timeout=KILL_TIMEOUT_S):
        raise StackError(
            f"broker pid {pid} survived SIGTERM and, {STOP_TIMEOUT_S:.0f}s on, SIGKILL"
        )
