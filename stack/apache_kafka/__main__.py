"""The command line: ``python -m stack.apache_kafka up|down|status|version``."""

import argparse
import sys
import time
from collections.abc import Sequence

from stack.apache_kafka import StackError, say
from stack.apache_kafka.broker import START_TIMEOUT_S, serving, start_broker, stop_all
from stack.apache_kafka.jars import ensure_libs, java_binary, kafka_version
from stack.apache_kafka.paths import LIBS_DIR, REPO, SERVER_LOG
from stack.apache_kafka.state import load_state, save_state, state_lock


def emit_bootstrap(bootstrap: str) -> None:
    sys.stdout.write(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n")
    sys.stdout.flush()


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
        sys.stdout.write(state.to_json())
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
