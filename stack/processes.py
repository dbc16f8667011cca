"""Child processes and the locks around them, for the embedded runtime, `make run` and Apache Kafka.

Only the standard library: `make kafka-down` runs before any project dependency is installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1
Output = int | IO[Any] | None


class StartFailed(RuntimeError):
    """A child exited, or did not get ready in time, while it was being started."""


class LockBusy(RuntimeError):
    """Another process holds the lock; `holder` is the pid it wrote there, when readable."""

    def __init__(self, path: Path, holder: int | None) -> None:
        super().__init__(f"{path} is locked by pid {holder or '?'}")
        self.holder = holder


# --- ports -------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on, all different (held open together while they are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


def port_open(port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout):
        return True
    return False


def wait_until(
    ready: Callable[[], bool],
    *,
    process: subprocess.Popen[bytes],
    what: str,
    timeout: float,
    interval: float = 0.05,
) -> None:
    """Poll `ready` until it is true; StartFailed when `process` exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if (code := process.poll()) is not None:
            raise StartFailed(f"{what} exited with status {code}")
        if time.monotonic() >= deadline:
            raise StartFailed(f"{what} did not answer within {timeout:g}s")
        time.sleep(interval)


def wait_for_port(
    port: int, *, process: subprocess.Popen[bytes], what: str, timeout: float
) -> None:
    wait_until(functools.partial(port_open, port), process=process, what=what, timeout=timeout)


# --- children ----------------------------------------------------------------------------


def spawn(
    command: Sequence[str],
    *,
    stdout: Output,
    stderr: Output,
    death_signal: signal.Signals | None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session, so a Ctrl-C meant for this process does not reach it.

    With a `death_signal` the child gets that signal when this process dies, even by SIGKILL,
    so it cannot outlive its supervisor.
    """
    preexec = None if death_signal is None else _die_with_parent(death_signal)
    return subprocess.Popen(  # noqa: S603
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=preexec,
        **popen,
    )


def _die_with_parent(death_signal: signal.Signals) -> Callable[[], None]:
    # Loaded before the fork: the child must not load libraries while another thread may hold
    # the loader's lock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, int(death_signal))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), death_signal)

    return in_child


def stop_processes(
    processes: Sequence[subprocess.Popen[bytes]], sig: signal.Signals, timeout: float
) -> list[subprocess.Popen[bytes]]:
    """Send `sig` to every child still running, wait for all, kill the late; returns the killed."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + timeout
    killed = []
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed.append(process)
    return killed


def stop_process(
    process: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout: float
) -> None:
    if process is not None:
        stop_processes([process], sig, timeout)


# --- processes that are not our children ------------------------------------------------


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


def process_args(pid: int) -> list[str] | None:
    """The command line of `pid`, or None when /proc cannot tell."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]


def process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def running_pids() -> Iterator[int]:
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(ValueError):
            yield int(entry.name)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group `pid` leads (a child started by `spawn`), else `pid` alone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def terminate_group(pid: int, *, timeout: float, kill_timeout: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. False when even SIGKILL did not end it."""
    signal_group(pid, signal.SIGTERM)
    if wait_gone(pid, timeout):
        return True
    signal_group(pid, signal.SIGKILL)
    return wait_gone(pid, kill_timeout)


# --- files -------------------------------------------------------------------------------


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


@contextlib.contextmanager
def locked(path: Path, *, wait: bool) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`, with this pid written in it for the next comer.

    The kernel drops the lock when the holder dies however it dies, so a lock is never stale.
    Without `wait`, a held lock raises LockBusy at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not opened with truncation: the holder's pid must stay readable until we own the lock.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(descriptor, path, wait=wait)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _acquire(descriptor: int, path: Path, *, wait: bool) -> None:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = read_text(path)
        raise LockBusy(path, int(holder) if holder and holder.isdigit() else None) from None
