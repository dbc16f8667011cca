"""What a stranger's request costs ingest, through a real server: an unknown path is refused
before its body is read, and refusals leave small, harmless, rate-limited records behind."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from shared.contracts import IngestRejected
from shared.events import decode
from shared.topics import INGEST_REJECTED
from stack.processes import free_port
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.helpers import message_payload, metric_value, read_topic, serving, signed_webhook

pytestmark = pytest.mark.e2e
WEBHOOK = f"/v1/webhooks/standard/{ACCOUNT}"
BURST = 5


@pytest.fixture
def door_settings(settings_for: Callable[..., Any], accounts_file: Path) -> IngestSettings:
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, rejected_burst=BURST,
        rejected_per_source_per_second=0.001, http_port=free_port(),
    )  # fmt: skip
    return settings


@pytest.fixture
async def base_url(door_settings: IngestSettings) -> AsyncIterator[str]:
    async with serving(create_app(door_settings), door_settings) as port:
        yield f"http://127.0.0.1:{port}"


async def recorded(
    infrastructure: Infrastructure, settings: IngestSettings, *, expect: int, within: float = 5
) -> list[tuple[IngestRejected, int]]:
    """The refusals on the topic, each with the size of its record."""
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(INGEST_REJECTED), expect=expect,
        within=within,
    )  # fmt: skip
    return [(decode(r.headers, r.value).data, len(r.value or b"")) for r in records]


async def test_an_unknown_account_is_refused_before_its_body_is_read(base_url: str) -> None:
    """The body is announced (within the size limit) but never sent: the answer cannot wait."""
    host = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(host.hostname, host.port)
    writer.write(
        b"POST /v1/webhooks/standard/nobody HTTP/1.1\r\nHost: ingest\r\n"
        b"Content-Type: application/json\r\nContent-Length: 500000\r\n\r\n"
    )
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=3)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 404"), head
    assert b"connection: close" in head.lower()


async def test_a_long_path_segment_is_not_echoed(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        refused = await client.post(f"/v1/webhooks/standard/{'a' * 5000}", content=b"{}")
    assert refused.status_code == 404
    assert len(refused.json()["detail"]) < 200


async def test_a_refusal_keeps_only_harmless_values_and_stays_small(
    base_url: str, infrastructure: Infrastructure, door_settings: IngestSettings
) -> None:
    body, headers = signed_webhook(message_payload("u1", "m1"), secret="whsec_b3RoZXI=")
    strangers = {f"x-stranger-{n}": "s" * 300 for n in range(100)}
    headers |= {"Proxy-Authorization": "Basic c2VjcmV0", "X-Api-Key": "key-123",
                "User-Agent": "probe/1.0", **strangers}  # fmt: skip
    async with httpx.AsyncClient(base_url=base_url) as client:
        refused = await client.post(WEBHOOK, content=body, headers=headers)
    assert refused.status_code == 401
    [(record, size)] = await recorded(infrastructure, door_settings, expect=1)
    kept = record.request_headers
    assert kept["proxy-authorization"] == kept["x-api-key"] == "[redacted]"
    assert kept["webhook-signature"] == "[redacted]"
    assert kept["user-agent"] == "probe/1.0"
    assert kept["x-stranger-0"] == "[not recorded]"
    assert "key-123" not in json.dumps(kept)
    assert size < 8192, f"a record of {size} bytes"


async def test_refusals_from_one_source_are_recorded_up_to_its_allowance(
    base_url: str, infrastructure: Infrastructure, door_settings: IngestSettings
) -> None:
    counter = "scrm_ingest_rejections_unrecorded_total"
    async with httpx.AsyncClient(base_url=base_url) as client:
        unrecorded_before = await metric_value(client, counter, reason="unknown_account")
        answers = [
            (await client.post(f"/v1/webhooks/standard/probe-{n}", content=b"x")).status_code
            for n in range(50)
        ]
        unrecorded = await metric_value(client, counter, reason="unknown_account")
    assert answers == [404] * 50  # every one is still answered
    records = await recorded(infrastructure, door_settings, expect=50, within=3)
    assert len(records) == BURST
    assert unrecorded - unrecorded_before == 50 - BURST
