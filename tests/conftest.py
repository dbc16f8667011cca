"""Test infrastructure: a real Kafka-protocol broker and a real PostgreSQL, chosen in this order:

1. external ones named by ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` (``make test-kafka`` sets
   the first to an Apache Kafka it started);
2. testcontainers (Apache Kafka and PostgreSQL) when ``SCRM_TEST_CONTAINERS=1`` and a Docker
   engine answers;
3. otherwise the embedded broker and embedded PostgreSQL, started once per test session.

Each test gets its own topics (a unique prefix), consumer groups and database (cloned from a
template that has every migration applied), so tests never see each other's data.
"""

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.migrate import upgrade
from shared.settings import BaseServiceSettings
from shared.topics import ensure_topics
from stack.embedded import EmbeddedBroker, EmbeddedPostgres

TEMPLATE_DATABASE = "scrm_test_template"
S = TypeVar("S", bound=BaseServiceSettings)


@dataclass(frozen=True)
class Infrastructure:
    kind: str
    bootstrap_servers: str
    server_url: str  # postgresql+asyncpg://... of the server; the database part is replaced
    idempotence: bool
    # Short, so groups form fast; a broker's group.min.session.timeout.ms must allow it.
    session_timeout_ms: int = 2000

    def database_url(self, name: str, *, driver: str = "postgresql+asyncpg") -> str:
        url = make_url(self.server_url).set(database=name, drivername=driver)
        return url.render_as_string(hide_password=False)


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0  # noqa: S603


def _containers(stack: ExitStack, *, kafka: bool, postgres: bool) -> tuple[str | None, str | None]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    bootstrap = url = None
    if kafka:
        container = stack.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
        bootstrap = container.get_bootstrap_server()
    if postgres:
        database = stack.enter_context(PostgresContainer("postgres:17", driver="asyncpg"))
        url = database.get_connection_url()
    return bootstrap, url


def _embedded(
    stack: ExitStack, folder: Path, *, kafka: bool, postgres: bool
) -> tuple[str | None, str | None]:
    bootstrap = url = None
    if postgres:
        server = EmbeddedPostgres(folder / "postgres", durable=False).start()
        stack.callback(server.stop)
        url = server.url()
    if kafka:
        broker = EmbeddedBroker(folder / "broker.log").start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap_servers
    return bootstrap, url


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    """External parts where named; the missing ones from testcontainers or embedded."""
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        server_url = os.environ.get("DATABASE_URL")
        missing = {"kafka": not bootstrap, "postgres": not server_url}
        kind = "external"
        if any(missing.values()):
            if os.environ.get("SCRM_TEST_CONTAINERS") == "1" and _docker_answers():
                kind, started = "testcontainers", _containers(stack, **missing)
            else:
                # Not under pytest's basetemp: another pytest run may prune that while this
                # one's database still lives there.
                folder = Path(tempfile.mkdtemp(prefix="scrm-test-embedded-"))
                stack.callback(shutil.rmtree, folder, ignore_errors=True)
                kind, started = "embedded", _embedded(stack, folder, **missing)
            bootstrap, server_url = bootstrap or started[0], server_url or started[1]
        assert bootstrap
        assert server_url
        idempotence = os.environ.get("SCRM_TEST_KAFKA_IDEMPOTENCE", "") == "true" or (
            kind == "testcontainers" and missing["kafka"]
        )
        # Brokers refuse sessions under group.min.session.timeout.ms (6 s by default); the
        # embedded one and the one `make kafka-up` starts allow short ones, so groups form fast.
        default_timeout = "2000" if kind == "embedded" and missing["kafka"] else "6000"
        session_timeout_ms = int(os.environ.get("SCRM_TEST_SESSION_TIMEOUT_MS", default_timeout))
        infra = Infrastructure(kind, bootstrap, server_url, idempotence, session_timeout_ms)
        asyncio.run(_create_template(infra))
        yield infra


async def _admin(infra: Infrastructure) -> asyncpg.Connection:
    return await asyncpg.connect(infra.database_url("postgres", driver="postgresql"))


async def _create_template(infra: Infrastructure) -> None:
    admin = await _admin(infra)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE_DATABASE}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, infra.database_url(TEMPLATE_DATABASE))


def pytest_report_header(config: pytest.Config) -> str:
    broker = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "embedded or testcontainers"
    return f"scrm: broker {broker}"


@asynccontextmanager
async def fresh_database(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A database of its own with every service's schema migrated, dropped on leaving: the
    test's (`database_url`), or a second one for a test that compares two deployments."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await _admin(infrastructure)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"')
    finally:
        await admin.close()
    try:
        yield infrastructure.database_url(name)
    finally:
        admin = await _admin(infrastructure)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def database_url(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A fresh database with every service's schema migrated, dropped after the test."""
    async with fresh_database(infrastructure) as url:
        yield url


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def kafka_topics(infrastructure: Infrastructure, topic_prefix: str) -> str:
    await ensure_topics(infrastructure.bootstrap_servers, prefix=topic_prefix, partitions=3)
    return topic_prefix


SettingsFactory = Callable[..., Any]


@pytest.fixture
def settings_for(
    infrastructure: Infrastructure, database_url: str, kafka_topics: str
) -> Callable[..., Any]:
    """``settings_for(ScoringSettings, **overrides)``: settings wired to this test's resources."""

    def make(cls: type[S], **overrides: Any) -> S:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": infrastructure.bootstrap_servers,
            "database_url": database_url,
            "topic_prefix": kafka_topics,
            "kafka_idempotence": infrastructure.idempotence,
            "consumer_retry_backoff_seconds": 0.01,
            "outbox_poll_seconds": 0.05,
            "shutdown_grace_seconds": 10,
            "consumer_session_timeout_ms": infrastructure.session_timeout_ms,
            "log_json": False,
            "log_level": "WARNING",
            **overrides,
        }
        return cls(**values)

    return make
