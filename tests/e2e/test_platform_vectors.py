"""Every platform's webhook test vectors, replayed over HTTP against a running ingest on a real
broker: the answer the platform expects, the canonical events on the topic, nothing new when the
same deliveries come again, and a refusal for each tampered copy."""

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from shared.events import decode
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.helpers import read_topic, running
from tests.platform_vectors import WebhookCase, all_cases

pytestmark = pytest.mark.e2e
CASES = all_cases()
# Many vectors are the platforms' published examples, dated from 2012 on: events older than the
# de-duplication window are refused, so the window here reaches back to them.
PUBLISHED_EXAMPLES_AGE = 30 * 365 * 24.0  # hours
PLATFORMS = sorted({case.platform for case in CASES})


def _cases(platform: str) -> list[WebhookCase]:
    return [case for case in CASES if case.platform == platform]


async def _send(client: httpx.AsyncClient, case: WebhookCase, body: bytes) -> httpx.Response:
    return await client.request(
        case.method, case.path, params=case.query, headers=case.headers, content=body
    )


def _tampered(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_the_platforms_vectors_replayed_over_http(
    platform: str, tmp_path: Path, settings_for: Callable[..., Any],
    infrastructure: Infrastructure,
) -> None:  # fmt: skip
    cases = _cases(platform)
    accounts = {(c.platform, c.account_id): c.account for c in cases}
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(json.dumps({"accounts": list(accounts.values())}))
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, dedupe_window_hours=PUBLISHED_EXAMPLES_AGE
    )
    expected = Counter(t for case in cases for t in case.event_types)
    async with running(create_app(settings)) as ingest:
        for case in cases:
            answer = await _send(ingest, case, case.body)
            assert answer.status_code == case.status, (case.name, answer.text)
            if case.answer is not None:
                assert answer.content == case.answer, case.name
        for case in cases:  # the platform retries: nothing new
            again = await _send(ingest, case, case.body)
            assert again.status_code == case.status, (case.name, again.text)
        for case in cases:
            if case.body_signed:
                forged = await _send(ingest, case, _tampered(case.body))
                assert forged.status_code in (401, 403), (case.name, forged.text)
    topic = settings.topic(EVENTS)
    records = await read_topic(
        infrastructure.bootstrap_servers, topic, expect=sum(expected.values()) + 1, within=3
    )
    produced = Counter(decode(r.headers, r.value).type for r in records)
    assert produced == expected
