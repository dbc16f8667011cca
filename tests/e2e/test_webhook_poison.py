"""Signed input that would poison what is behind ingest: refused at the door (400) with nothing
produced, or answered without letting the platform's echo be read as anything but text."""

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from services.ingest.accounts import AccountsFileError
from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from services.ingest.platforms.line import line_signature
from services.ingest.platforms.weibo import weibo_signature
from services.ingest.platforms.x import x_signature
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.helpers import SECRET, metric_value, read_topic, running, signed_webhook
from tests.platform_vectors import WebhookCase, all_cases
from tests.platform_vectors import line as line_vectors
from tests.platform_vectors import weibo as weibo_vectors
from tests.platform_vectors import x as x_vectors

pytestmark = pytest.mark.e2e
STANDARD = f"/v1/webhooks/standard/{ACCOUNT}"
LINE = f"/v1/webhooks/line/{line_vectors.ACCOUNT['account_id']}"
WEIBO = f"/v1/webhooks/weibo/{weibo_vectors.ACCOUNT['account_id']}"
X = f"/v1/webhooks/x/{x_vectors.ACCOUNT['account_id']}"
HANDSHAKES = [case for case in all_cases() if case.method == "GET" and case.status == 200]


@pytest.fixture
def poison_settings(
    tmp_path: Path, settings_for: Callable[..., Any], accounts_file: Path
) -> IngestSettings:
    """The standard test account and every platform vector's account."""
    entries = {(c.platform, c.account_id): c.account for c in all_cases()}
    accounts = [*json.loads(accounts_file.read_text())["accounts"], *entries.values()]
    path = tmp_path / "poison-accounts.json"
    path.write_text(json.dumps({"accounts": accounts}))
    # The vectors' signed timestamps are taken as they are imported, at collection: in a full
    # run this file comes more than the default 5 minutes later. An hour covers the run.
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=path, webhook_tolerance_seconds=3600
    )
    return settings


@pytest.fixture
async def ingest(
    poison_settings: IngestSettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, IngestSettings]]:
    async with running(create_app(poison_settings)) as client:
        yield client, poison_settings


async def nothing_produced(infrastructure: Infrastructure, settings: IngestSettings) -> bool:
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=1, within=2
    )
    return records == []


def order(amount_cents: int, user_id: str = "buyer-1") -> dict[str, Any]:
    return {
        "type": "order.paid", "timestamp": datetime.now(UTC).isoformat(),
        "data": {"order_id": "o-1", "user_id": user_id, "amount_cents": amount_cents,
                 "currency": "CNY"},
    }  # fmt: skip


def message(user_id: str) -> dict[str, Any]:
    return {
        "type": "message.received", "timestamp": datetime.now(UTC).isoformat(),
        "data": {"message_id": "m-1", "user_id": user_id, "text": "hi"},
    }  # fmt: skip


class TestAContractRefusesPoison:
    @pytest.mark.parametrize(
        "payload",
        [message("fan\u0000-1"), order(100, user_id="buyer\u0007")],
        ids=["nul-in-a-message", "bell-in-an-order"],
    )
    async def test_a_control_character_in_a_user_id_gets_400_and_produces_nothing(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], infrastructure: Infrastructure,
        payload: dict[str, Any],
    ) -> None:  # fmt: skip
        client, settings = ingest
        body, headers = signed_webhook(payload)
        refused = await client.post(STANDARD, content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["reason"] == "malformed"
        assert await nothing_produced(infrastructure, settings)

    async def test_an_amount_beyond_int64_gets_400_and_produces_nothing(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], infrastructure: Infrastructure
    ) -> None:
        client, settings = ingest
        body, headers = signed_webhook(order(2**63))
        refused = await client.post(STANDARD, content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert await nothing_produced(infrastructure, settings)
        body, headers = signed_webhook(order(2**63 - 1))
        assert (await client.post(STANDARD, content=body, headers=headers)).status_code == 200


def line_push(*events: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"destination": line_vectors.DESTINATION, "events": list(events)}).encode()
    return body, {"x-line-signature": line_signature(line_vectors.SECRET, body),
                  "content-type": "application/json"}  # fmt: skip


def line_message(source: dict[str, str], message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message", "mode": "active", "timestamp": 1462629479859, "source": source,
        "message": {"id": message_id, "type": "text", "text": "Hello, world"}, **extra,
    }  # fmt: skip


class TestLine:
    async def test_the_consoles_verify_dummies_produce_nothing(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], infrastructure: Infrastructure
    ) -> None:
        client, settings = ingest
        dummy = {"type": "user", "userId": "Udeadbeefdeadbeefdeadbeefdeadbeef"}
        body, headers = line_push(
            line_message(dummy, "100001", replyToken="0" * 32),
            line_message(dummy, "100002", replyToken="f" * 32),
        )
        answer = await client.post(LINE, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert await nothing_produced(infrastructure, settings)

    async def test_a_group_message_without_a_user_id_is_dropped_and_counted(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], infrastructure: Infrastructure
    ) -> None:
        client, settings = ingest
        dropped = "scrm_ingest_dropped_events_total"
        before = await metric_value(client, dropped, platform="line", reason="no_sender")
        group = {"type": "group", "groupId": "Ca56f94637c000000000000000000000"}
        body, headers = line_push(line_message(group, "444573844083572799"))
        answer = await client.post(LINE, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert await nothing_produced(infrastructure, settings)
        after = await metric_value(client, dropped, platform="line", reason="no_sender")
        assert after == before + 1


def weibo_query(echostr: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), "1342416591"
    signature = weibo_signature(weibo_vectors.SECRET, timestamp, nonce)
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}


class TestEchoes:
    @pytest.mark.parametrize("case", HANDSHAKES, ids=[case.name for case in HANDSHAKES])
    async def test_every_handshake_echo_forbids_content_sniffing(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings], case: WebhookCase
    ) -> None:
        client, _ = ingest
        answer = await client.get(case.path, params=case.query)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"

    async def test_weibos_echo_is_capped(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings]
    ) -> None:
        client, _ = ingest
        fits = await client.get(WEIBO, params=weibo_query(echostr="e" * 128))
        assert (fits.status_code, fits.content) == (200, b"e" * 128)
        refused = await client.get(WEIBO, params=weibo_query(echostr="e" * 129))
        assert refused.status_code == 401, refused.text


class TestXCrc:
    async def test_a_token_that_cannot_spell_a_push_is_answered_and_one_that_could_is_refused(
        self, ingest: tuple[httpx.AsyncClient, IngestSettings]
    ) -> None:
        client, _ = ingest
        for token in ("a&b=c", "a\"b'c<d>", "x" * 256):
            answer = await client.get(X, params={"crc_token": token})
            assert answer.status_code == 200, (token, answer.text)
            expected = x_signature(x_vectors.CONSUMER_SECRET, token.encode())
            assert answer.json() == {"response_token": expected}
        push = json.dumps({"for_user_id": x_vectors.BRAND, "follow_events": []})
        for token in (push, '{"for_user_id":"1"}', "x" * 257, "", "a b", "tab\there", "é"):
            answer = await client.get(X, params={"crc_token": token})
            assert answer.status_code == 400, (token, answer.text)


TOKEN = "admin-token-for-poison-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ACCOUNTS = "/v1/admin/accounts"
APP_SECRET = "wechat-app-secret-never-echoed"


@pytest.fixture
def admin_settings(settings_for: Callable[..., Any], accounts_file: Path) -> IngestSettings:
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, admin_token=TOKEN,
        accounts_keys=Fernet.generate_key().decode(),
    )  # fmt: skip
    return settings


class TestAccountIds:
    async def test_the_admin_api_refuses_a_colon_in_an_account_id(
        self, admin_settings: IngestSettings
    ) -> None:
        """``shop-a`` + fan ``vip:fan-77`` and ``shop-a:vip`` + fan ``fan-77`` would share the fan
        key ``standard:shop-a:vip:fan-77``."""
        async with running(create_app(admin_settings)) as ingest:
            refused = await ingest.put(f"{ACCOUNTS}/standard/shop-a:vip",
                                       json={"secret": SECRET}, headers=AUTH)  # fmt: skip
            assert refused.status_code == 422, refused.text
            assert SECRET not in refused.text
            read = await ingest.get(f"{ACCOUNTS}/standard/shop-a:vip", headers=AUTH)
            assert read.status_code == 422, read.text

    async def test_the_accounts_file_refuses_a_colon_in_an_account_id(
        self, settings_for: Callable[..., Any], tmp_path: Path
    ) -> None:
        path = tmp_path / "accounts.json"
        entry = {"platform": "standard", "account_id": "shop-a:vip", "secret": SECRET}
        path.write_text(json.dumps({"accounts": [entry]}))
        settings: IngestSettings = settings_for(IngestSettings, accounts_file=path)
        with pytest.raises(AccountsFileError, match="account_id") as refused:
            async with running(create_app(settings)):
                pass
        assert SECRET not in str(refused.value)

    async def test_a_nul_in_the_account_id_of_a_put_or_delete_gets_422(
        self, admin_settings: IngestSettings
    ) -> None:
        async with running(create_app(admin_settings)) as ingest:
            put = await ingest.put(f"{ACCOUNTS}/standard/shop%00", json={"secret": SECRET},
                                   headers=AUTH)  # fmt: skip
            assert put.status_code == 422, put.text
            assert SECRET not in put.text
            deleted = await ingest.delete(f"{ACCOUNTS}/standard/shop%00", headers=AUTH)
            assert deleted.status_code == 422, deleted.text

    async def test_a_nul_in_a_field_gets_422_without_echoing_the_secrets(
        self, admin_settings: IngestSettings
    ) -> None:
        fields = {"app_id": "wx\u0000", "token": "wechat-token", "app_secret": APP_SECRET}
        async with running(create_app(admin_settings)) as ingest:
            refused = await ingest.put(f"{ACCOUNTS}/wechat/wx-1", json=fields, headers=AUTH)
            assert refused.status_code == 422, refused.text
            assert "app_id" in refused.text
            assert APP_SECRET not in refused.text
            assert "wechat-token" not in refused.text
