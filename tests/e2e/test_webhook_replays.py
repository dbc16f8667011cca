"""Replays and oracles over HTTP against a running ingest: a captured WeCom push is no echostr, a
signature that does not cover the body carries one body only (on every replica), a URL check
is only answered within the timestamp window, and a window longer than an hour stops ingest."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from services.ingest.platforms.wechat import MessageCrypt, sha1_signature
from shared.events import decode
from shared.topics import INGEST_REJECTED
from stack.embedded import free_port
from tests.conftest import Infrastructure
from tests.helpers import read_topic, running
from tests.platform_vectors import wechat, wecom, weibo

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
WECHAT = f"/v1/webhooks/wechat/{wechat.PLAIN_ACCOUNT['account_id']}"
WECOM = f"/v1/webhooks/wecom/{wecom.ACCOUNT['account_id']}"
WECOM_SAMPLE = f"/v1/webhooks/wecom/{wecom.SAMPLE_ACCOUNT['account_id']}"
WEIBO = f"/v1/webhooks/weibo/{weibo.UID}"
ECHO = b"5928175032616810435"  # what WeCom seals into a URL check: a random decimal string


@pytest.fixture
def settings(settings_for: Callable[..., Any], tmp_path: Path) -> IngestSettings:
    accounts = [wechat.PLAIN_ACCOUNT, wecom.ACCOUNT, wecom.SAMPLE_ACCOUNT, weibo.ACCOUNT]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": accounts}))
    made: IngestSettings = settings_for(IngestSettings, accounts_file=path)
    return made


@pytest.fixture
async def ingest(settings: IngestSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings)) as client:
        yield client


def _now() -> str:
    return str(int(time.time()))


def _nonce() -> str:
    return uuid.uuid4().hex[:12]


async def _refusals(
    infrastructure: Infrastructure, settings: IngestSettings, expect: int
) -> list[Any]:
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(INGEST_REJECTED), expect=expect
    )
    return [decode(r.headers, r.value).data for r in records]


class TestWeComUrlCheck:
    async def test_a_captured_push_is_not_opened_as_an_echostr_but_a_url_check_is(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        xml = wecom.message_xml("text", "<Content><![CDATA[the fan's secret]]></Content>",
                                msg_id="7001", create_time=int(time.time()))  # fmt: skip
        timestamp, nonce = _now(), _nonce()
        body, query = wecom.push(xml, timestamp=timestamp, nonce=nonce)
        encrypt = body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
        oracle = await ingest.get(WECOM, params={**query, "echostr": encrypt})
        assert oracle.status_code == 401, oracle.text
        assert b"secret" not in oracle.content
        echostr = MessageCrypt(wecom.AES_KEY, wecom.CORP_ID).encrypt(ECHO, os.urandom(16))
        signature = sha1_signature(wecom.TOKEN, timestamp, nonce, echostr)
        check = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce,
                 "echostr": echostr}  # fmt: skip
        answered = await ingest.get(WECOM, params=check)
        assert (answered.status_code, answered.content) == (200, ECHO)
        [recorded] = await _refusals(infrastructure, settings, expect=1)
        assert recorded.platform == "wecom"
        assert recorded.status_code == 401

    async def test_the_published_url_check_of_2014_is_stale(
        self, ingest: httpx.AsyncClient
    ) -> None:
        refused = await ingest.get(WECOM_SAMPLE, params=wecom.VERIFY_QUERY)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "stale_timestamp"


class TestWeChatUrlCheck:
    async def test_a_signature_an_hour_old_is_refused(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        an_hour_ago = str(int(time.time()) - 3600)
        query = {**wechat.plain_query(wechat.TOKEN, an_hour_ago, _nonce()), "echostr": "81726"}
        refused = await ingest.get(WECHAT, params=query)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "stale_timestamp"
        [recorded] = await _refusals(infrastructure, settings, expect=1)
        assert recorded.reason == "stale_timestamp"


class TestTolerance:
    def test_a_tolerance_over_an_hour_stops_ingest_at_start_up(
        self, infrastructure: Infrastructure, database_url: str, kafka_topics: str
    ) -> None:
        env = {**os.environ, "INGEST_WEBHOOK_TOLERANCE_SECONDS": "7200",
               "SCRM_DATABASE_URL": database_url, "SCRM_TOPIC_PREFIX": kafka_topics,
               "SCRM_KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
               "SCRM_KAFKA_IDEMPOTENCE": str(infrastructure.idempotence).lower(),
               "INGEST_HTTP_PORT": str(free_port())}  # fmt: skip
        ingest = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            output, _ = ingest.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            ingest.kill()
            ingest.communicate()
            pytest.fail("ingest started with a tolerance of two hours")
        assert ingest.returncode != 0
        assert b"INGEST_WEBHOOK_TOLERANCE_SECONDS" in output, output.decode()[-2000:]
        assert b"3600" in output
