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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from services.ingest.platforms.wechat import MessageCrypt, sha1_signature
from services.ingest.platforms.weibo import weibo_signature
from services.ingest.retention import ReceivedEventsJanitor
from shared.db import create_engine, create_sessionmaker
from stack.embedded import free_port
from tests.conftest import Infrastructure
from tests.helpers import produced_events, recorded_refusals, running
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


def _wechat_text(words: str) -> bytes:
    content = f"<Content><![CDATA[{words}]]></Content>"
    msg_id = str(time.time_ns())
    return wechat.message_xml("text", content, msg_id=msg_id, create_time=int(time.time())).encode()


def _weibo_query(timestamp: str | None = None) -> dict[str, str]:
    timestamp, nonce = timestamp or _now(), _nonce()
    signature = weibo_signature(weibo.SECRET, timestamp, nonce)
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def _weibo_text(words: str) -> bytes:
    payload = {"type": "text", "receiver_id": int(weibo.UID), "sender_id": weibo.FAN,
               "created_at": int(time.time() * 1000), "text": words, "data": {}}  # fmt: skip
    return json.dumps(payload, ensure_ascii=False).encode()


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
        [recorded] = await recorded_refusals(infrastructure.bootstrap_servers, settings, expect=1)
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
        [recorded] = await recorded_refusals(infrastructure.bootstrap_servers, settings, expect=1)
        assert recorded.reason == "stale_timestamp"

    async def test_its_signature_carries_no_push_afterwards(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        query = wechat.plain_query(wechat.TOKEN, _now(), _nonce())
        checked = await ingest.get(WECHAT, params={**query, "echostr": "81726"})
        assert checked.status_code == 200
        forged = await ingest.post(WECHAT, params=query, content=_wechat_text("forged"))
        assert forged.status_code == 401
        assert forged.json()["reason"] == "replayed"
        assert await produced_events(infrastructure.bootstrap_servers, settings, expect=0) == []


class TestSignaturesThatDoNotCoverTheBody:
    async def test_wechat_plain_mode_refuses_another_body_and_accepts_a_retry(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        query = wechat.plain_query(wechat.TOKEN, _now(), _nonce())
        genuine = _wechat_text("genuine")
        for _ in range(2):  # the platform's retry is the same body: accepted
            accepted = await ingest.post(WECHAT, params=query, content=genuine)
            assert (accepted.status_code, accepted.content) == (200, b"success")
        forged = await ingest.post(WECHAT, params=query, content=_wechat_text("forged"))
        assert forged.status_code == 401
        assert forged.json()["reason"] == "replayed"
        [produced] = await produced_events(infrastructure.bootstrap_servers, settings, expect=1)
        assert produced.text == "genuine"
        [recorded] = await recorded_refusals(infrastructure.bootstrap_servers, settings, expect=1)
        assert (recorded.reason, recorded.status_code) == ("replayed", 401)

    async def test_weibo_refuses_another_body_and_accepts_a_retry(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure, settings: IngestSettings
    ) -> None:
        query = _weibo_query()
        genuine = _weibo_text("genuine")
        for _ in range(2):
            accepted = await ingest.post(WEIBO, params=query, content=genuine)
            assert accepted.status_code == 200, accepted.text
        forged = await ingest.post(WEIBO, params=query, content=_weibo_text("forged"))
        assert forged.status_code == 401
        assert forged.json()["reason"] == "replayed"
        [produced] = await produced_events(infrastructure.bootstrap_servers, settings, expect=1)
        assert produced.text == "genuine"

    async def test_replicas_on_one_database_share_what_they_have_seen(
        self, settings: IngestSettings, infrastructure: Infrastructure
    ) -> None:
        wechat_query, weibo_query = (
            wechat.plain_query(wechat.TOKEN, _now(), _nonce()),
            _weibo_query(),
        )
        async with running(create_app(settings)) as first, running(create_app(settings)) as second:
            genuine = _wechat_text("genuine")
            assert (
                await first.post(WECHAT, params=wechat_query, content=genuine)
            ).status_code == 200
            forged = await second.post(WECHAT, params=wechat_query, content=_wechat_text("forged"))
            assert (forged.status_code, forged.json()["reason"]) == (401, "replayed")
            retried = await second.post(WECHAT, params=wechat_query, content=genuine)
            assert retried.status_code == 200
            assert (
                await second.post(WEIBO, params=weibo_query, content=_weibo_text("a"))
            ).status_code == 200
            forged = await first.post(WEIBO, params=weibo_query, content=_weibo_text("b"))
            assert (forged.status_code, forged.json()["reason"]) == (401, "replayed")
        produced = await produced_events(infrastructure.bootstrap_servers, settings, expect=2)
        assert sorted(event.text for event in produced) == ["a", "genuine"]

    async def test_what_is_seen_is_forgotten_once_no_timestamp_could_be_fresh(
        self, ingest: httpx.AsyncClient, settings: IngestSettings
    ) -> None:
        query = _weibo_query()
        assert (await ingest.post(WEIBO, params=query, content=_weibo_text("a"))).status_code == 200
        engine = create_engine(settings.database_url.get_secret_value(), pool_size=2)
        try:
            janitor = ReceivedEventsJanitor(settings, create_sessionmaker(engine))
            tolerance = timedelta(seconds=settings.webhook_tolerance_seconds)
            await janitor.sweep(now=datetime.now(UTC) + tolerance)
            async with engine.connect() as connection:
                left = await connection.scalar(text("SELECT count(*) FROM ingest.seen_signatures"))
            assert left == 1  # a timestamp signed now is still fresh a tolerance from now
            await janitor.sweep(now=datetime.now(UTC) + 3 * tolerance)
            async with engine.connect() as connection:
                left = await connection.scalar(text("SELECT count(*) FROM ingest.seen_signatures"))
            assert left == 0
        finally:
            await engine.dispose()


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
