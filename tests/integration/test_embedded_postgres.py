"""The embedded PostgreSQL keeps one server to a data folder, and `make run`'s is durable."""

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from stack.embedded import EmbeddedError, EmbeddedPostgres
from stack.processes import locked

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: the server runs as its own user, which may not enter it.
    scratch = Path(tempfile.mkdtemp(prefix="scrm-test-pg-"))
    yield scratch / "postgres"
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def server(data_dir: Path) -> Iterator[EmbeddedPostgres]:
    started = EmbeddedPostgres(data_dir, durable=False).start()
    yield started
    started.stop()


def setting(server: EmbeddedPostgres, name: str) -> str:
    async def show() -> str:
        connection = await asyncpg.connect(server.url(driver="postgresql"))
        try:
            return str(await connection.fetchval(f"SHOW {name}"))
        finally:
            await connection.close()

    return asyncio.run(show())


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])  # noqa: S607
    finished.wait()
    return finished.pid


def write_pid_file(data_dir: Path, pid: int) -> None:
    (data_dir / "postmaster.pid").write_text(f"{pid}\n{data_dir}\n")


class TestOneServerPerDataFolder:
    def test_second_start_while_the_first_runs_is_refused(
        self, server: EmbeddedPostgres, data_dir: Path
    ) -> None:
        second = EmbeddedPostgres(data_dir, durable=False)
        message = (
            f"{re.escape(str(data_dir))} is in use by PostgreSQL pid \\d+ .*; "
            "stop it or wait for it first"
        )
        with pytest.raises(EmbeddedError, match=message):
            second.start()
        assert setting(server, "port") == str(server.port), "the first server still serves"
        assert (data_dir / "postmaster.pid").exists(), "and still holds its lock file"

    def test_pid_file_of_a_dead_process_is_removed_and_start_succeeds(self, data_dir: Path) -> None:
        EmbeddedPostgres(data_dir, durable=False).start().stop()
        write_pid_file(data_dir, dead_pid())
        restarted = EmbeddedPostgres(data_dir, durable=False).start()
        try:
            assert setting(restarted, "port") == str(restarted.port)
        finally:
            restarted.stop()

    def test_pid_file_naming_a_process_that_is_no_postgres_is_removed(self, data_dir: Path) -> None:
        """After a crash the pid may belong to another process by now, here this test's own."""
        EmbeddedPostgres(data_dir, durable=False).start().stop()
        write_pid_file(data_dir, os.getpid())
        restarted = EmbeddedPostgres(data_dir, durable=False).start()
        try:
            assert setting(restarted, "port") == str(restarted.port)
        finally:
            restarted.stop()


class TestDurability:
    def test_durable_server_syncs_its_writes(self, data_dir: Path) -> None:
        durable = EmbeddedPostgres(data_dir, durable=True).start()
        try:
            for name in ("fsync", "synchronous_commit", "full_page_writes"):
                assert setting(durable, name) == "on", name
        finally:
            durable.stop()

    def test_fast_server_for_tests_does_not(self, server: EmbeddedPostgres) -> None:
        assert setting(server, "fsync") == "off"


class TestMakeRunDataFolder:
    def test_second_make_run_on_a_folder_in_use_is_refused(self, data_dir: Path) -> None:
        folder = data_dir.parent / "data"
        with locked(folder / ".lock", wait=False):  # as a running `make run` holds it
            second = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "stack.run", "--data-dir", str(folder)],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
        assert second.returncode == 1
        refusal = f"{folder} is in use by another `make run` (pid {os.getpid()}); stop it first"
        assert refusal in second.stdout
        assert not (folder / "postgres").exists(), "nothing was started"
