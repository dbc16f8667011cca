"""With the broker unreachable, ingest answers 503 (so the platform retries) and reports itself
not ready; when it comes back, the platform's retry lands and nothing is doubled.

The outage is a frozen broker (SIGSTOP: connections stay open but nothing answers, as in a
network partition), on a broker of this test's own so the shared one is never disturbed.
"""

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app as create_ingest
from services.scoring.config import ScoringSettings
from services.scoring.main import create_app as create_scoring
from shared.topics import ensure_topics
from stack.embedded import EmbeddedBroker
from tests.e2e.conftest import ACCOUNT
from tests.helpers import eventually, message_payload, running, signed_webhook

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path / "broker.log").start()
    yield broker
    if broker._process is not None:
        os.kill(broker._process.pid, signal.SIGCONT)
    broker.stop()


def freeze(broker: EmbeddedBroker, sig: signal.Signals) -> None:
    assert broker._process is not None
    os.kill(broker._process.pid, sig)


async def test_ingest_answers_503_while_the_broker_is_away_and_recovers_without_doubling(
    own_broker: EmbeddedBroker, settings_for: Callable[..., Any], accounts_file: Path
) -> None:
    common = {"kafka_bootstrap_servers": own_broker.bootstrap_servers,
              "kafka_idempotence": False, "produce_timeout_seconds": 1.0}  # fmt: skip
    ingest_settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, **common
    )
    await ensure_topics(
        own_broker.bootstrap_servers, prefix=ingest_settings.topic_prefix, partitions=1
    )
    body, headers = signed_webhook(message_payload("u1", "m-outage"))
    webhook = f"/v1/webhooks/standard/{ACCOUNT}"
    fan = f"standard:{ACCOUNT}:u1"

    async with running(create_ingest(ingest_settings)) as ingest:
        freeze(own_broker, signal.SIGSTOP)
        during = await ingest.post(webhook, content=body, headers=headers)
        assert during.status_code == 503
        assert during.headers["retry-after"]
        readiness = await ingest.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["kafka"] != "ok"
        freeze(own_broker, signal.SIGCONT)

        retried = await eventually(
            lambda: _status_after_retry(ingest, webhook, body, headers), within=30
        )
        assert retried == 200

    async with running(create_scoring(settings_for(ScoringSettings, **common))) as scoring:

        async def count() -> int | None:
            response = await scoring.get(f"/v1/fans/{fan}")
            return response.json()["interaction_count"] if response.status_code == 200 else None

        assert await eventually(count) == 1
        # Whatever the frozen producer still delivered late carries the same event id.
        assert await count() == 1


async def _status_after_retry(
    ingest: Any, url: str, body: bytes, headers: dict[str, str]
) -> int | None:
    answer = await ingest.post(url, content=body, headers=headers)
    return 200 if answer.status_code == 200 else None
