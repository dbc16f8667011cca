"""Events older than the de-duplication window, over HTTP against a running ingest: their claims
would have been forgotten, so a replay of them is refused (or, in a batch, skipped) instead of
being produced again."""

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from services.ingest.platforms.line import line_signature
from tests.conftest import Infrastructure
from tests.helpers import metric_value, produced_events, recorded_refusals, running
from tests.platform_vectors import line, meta, telegram, wecom

pytestmark = pytest.mark.e2e
IN_2020 = 1_577_836_800  # 2020-01-01T00:00:00Z
LINE = f"/v1/webhooks/line/{line.ACCOUNT['account_id']}"
MESSENGER = f"/v1/webhooks/messenger/{meta.PAGE_ID}"
TELEGRAM = f"/v1/webhooks/telegram/{telegram.ACCOUNT['account_id']}"
WECOM = f"/v1/webhooks/wecom/{wecom.ACCOUNT['account_id']}"
WEBHOOKS = "scrm_ingest_webhooks_total"


@pytest.fixture
def settings(settings_for: Callable[..., Any], tmp_path: Path) -> IngestSettings:
    accounts = [line.ACCOUNT, meta.MESSENGER, telegram.ACCOUNT, wecom.ACCOUNT]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": accounts}))
    made: IngestSettings = settings_for(IngestSettings, accounts_file=path)
    return made


@pytest.fixture
async def ingest(settings: IngestSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings)) as client:
        yield client


def _telegram(update_id: int, date: int, words: str) -> bytes:
    message = telegram.message(update_id, date=date, text=words)
    return json.dumps(telegram.update(update_id, message=message)).encode()


def _line(*events: tuple[str, int]) -> tuple[bytes, dict[str, str]]:
    """A LINE push of text messages, each (text, epoch seconds)."""
    items = [
        {"type": "message", "mode": "active", "timestamp": seconds * 1000,
         "source": {"type": "user", "userId": line.USER}, "webhookEventId": f"01LINE{words}",
         "deliveryContext": {"isRedelivery": False},
         "message": {"id": f"{seconds}{words}", "type": "text", "text": words}}
        for words, seconds in events
    ]  # fmt: skip
    body = json.dumps({"destination": line.DESTINATION, "events": items}).encode()
    headers = {"x-line-signature": line_signature(line.SECRET, body),
               "content-type": "application/json"}  # fmt: skip
    return body, headers


def _messenger(*messages: tuple[str, int]) -> tuple[bytes, dict[str, str]]:
    """A Messenger push of text messages, each (text, epoch seconds)."""
    items = [
        meta.messaging(message={"mid": f"m_{words}", "text": words}, timestamp=seconds * 1000)
        for words, seconds in messages
    ]
    body = meta.body(meta.page(meta.page_entry(items)))
    return body, meta.signed_headers(body)


class TestTelegram:
    async def test_a_2020_update_is_refused_and_a_current_one_produced(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        headers = {"x-telegram-bot-api-secret-token": telegram.SECRET_TOKEN}
        old = await ingest.post(TELEGRAM, content=_telegram(501, IN_2020, "old"), headers=headers)
        assert old.status_code == 401
        assert old.json()["reason"] == "stale_event"
        now = int(time.time())
        current = await ingest.post(TELEGRAM, content=_telegram(502, now, "new"), headers=headers)
        assert current.status_code == 200
        [produced] = await produced_events(infrastructure.bootstrap_servers, settings, expect=1)
        assert produced.text == "new"
        [recorded] = await recorded_refusals(infrastructure.bootstrap_servers, settings, expect=1)
        assert (recorded.reason, recorded.status_code) == ("stale_event", 401)


class TestBatches:
    async def test_line_skips_a_2020_event_beside_a_current_one(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        skipped = await metric_value(ingest, WEBHOOKS, platform="line", outcome="stale")
        body, headers = _line(("old", IN_2020), ("new", int(time.time())))
        answer = await ingest.post(LINE, content=body, headers=headers)
        assert answer.status_code == 200
        [produced] = await produced_events(infrastructure.bootstrap_servers, settings, expect=1)
        assert produced.text == "new"
        stale = await metric_value(ingest, WEBHOOKS, platform="line", outcome="stale")
        assert stale == skipped + 1  # the registry is the process's: other tests count too

    async def test_line_refuses_a_push_of_nothing_but_2020_events(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        body, headers = _line(("old", IN_2020), ("older", IN_2020 - 60))
        refused = await ingest.post(LINE, content=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "stale_event"
        assert await produced_events(infrastructure.bootstrap_servers, settings, expect=0) == []

    async def test_messenger_skips_a_2020_message_and_refuses_a_push_of_only_those(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        body, headers = _messenger(("old", IN_2020), ("new", int(time.time())))
        assert (await ingest.post(MESSENGER, content=body, headers=headers)).status_code == 200
        body, headers = _messenger(("older", IN_2020))
        refused = await ingest.post(MESSENGER, content=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "stale_event"
        [produced] = await produced_events(infrastructure.bootstrap_servers, settings, expect=1)
        assert produced.text == "new"


class TestSealedPushes:
    async def test_a_wecom_message_sealed_in_2020_is_refused(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        """The signature's timestamp is not checked on sealed pushes (neither platform's SDK
        does): the message's CreateTime is what dates it."""
        xml = wecom.message_xml("text", "<Content><![CDATA[old]]></Content>", msg_id="2020",
                                create_time=IN_2020)  # fmt: skip
        body, query = wecom.push(xml, timestamp=str(IN_2020))
        refused = await ingest.post(WECOM, params=query, content=body)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "stale_event"
        assert await produced_events(infrastructure.bootstrap_servers, settings, expect=0) == []
