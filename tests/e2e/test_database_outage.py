"""With PostgreSQL down, ingest answers 503 (the platform retries) and reports itself not ready;
after PostgreSQL restarts, the connections it broke are dropped, the platform's retries land,
and a delivery accepted before the outage is still recognised: nothing lost, nothing doubled.

PostgreSQL here is the test's own, so the shared one is never disturbed."""

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from shared.events import decode
from shared.migrate import upgrade
from shared.topics import EVENTS
from stack.embedded import EmbeddedPostgres
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.helpers import eventually, message_payload, read_topic, running, signed_webhook

pytestmark = pytest.mark.e2e
WEBHOOK = f"/v1/webhooks/standard/{ACCOUNT}"


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    # Not under pytest's tmp_path: the server runs as its own user, which may not enter it.
    folder = Path(tempfile.mkdtemp(prefix="scrm-test-outage-"))
    postgres = await asyncio.to_thread(EmbeddedPostgres(folder / "pg").start)
    admin = await asyncpg.connect(postgres.url(driver="postgresql"))
    try:
        await admin.execute('CREATE DATABASE "outage"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, postgres.url("outage"), ("ingest",))
    yield postgres
    await asyncio.to_thread(postgres.stop)
    shutil.rmtree(folder, ignore_errors=True)


async def _post(ingest: httpx.AsyncClient, message: str) -> httpx.Response:
    body, headers = signed_webhook(message_payload("u1", message), msg_id=f"msg_{message}")
    return await ingest.post(WEBHOOK, content=body, headers=headers)


async def test_ingest_answers_503_while_postgres_is_away_and_recovers_without_doubling(
    own_postgres: EmbeddedPostgres, settings_for: Callable[..., Any], accounts_file: Path,
    infrastructure: Infrastructure,
) -> None:  # fmt: skip
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, database_url=own_postgres.url("outage")
    )
    async with running(create_app(settings)) as ingest:
        before = await _post(ingest, "m-before")
        assert before.status_code == 200, before.text

        await asyncio.to_thread(own_postgres.stop)
        during = await _post(ingest, "m-during")
        assert during.status_code == 503
        assert during.headers["retry-after"]
        readiness = await ingest.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["postgres"] != "ok"

        await asyncio.to_thread(own_postgres.start)  # same port, same data

        async def retry_lands() -> bool:
            return (await _post(ingest, "m-during")).status_code == 200

        await eventually(retry_lands, within=30)
        again = await _post(ingest, "m-before")  # the platform retries an old delivery too
        assert again.status_code == 200
        assert again.json()["event_ids"] == before.json()["event_ids"]
        assert (await ingest.get("/readyz")).status_code == 200

    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=3, within=3
    )
    produced = [decode(r.headers, r.value).data for r in records]
    assert sorted(e.message_id for e in produced) == ["m-before", "m-during"]
