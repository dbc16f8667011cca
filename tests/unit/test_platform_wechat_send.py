"""WeChat Official Account: the customer-service send API, against a local fake of WeChat's."""

import asyncio
from typing import Any

import httpx
import pytest

from services.ingest.platforms.base import SendOutcome
from services.ingest.platforms.wechat import WeChatAccount, WeChatOfficialAccount
from shared.contracts import ReplyRequested
from tests.unit.wechat_helpers import FakeTencent

SENDER = WeChatAccount(platform="wechat", account_id="oa-send", app_id="wxSEND",
                       token="t", app_secret="the-app-secret")  # fmt: skip
BASE = "https://api.weixin.test"


def reply(text: str = "您好") -> ReplyRequested:
    return ReplyRequested(reply_id="r-1", conversation_id="c-1", platform="wechat",
                          account=SENDER.account_id, user_id="oFAN1", text=text)  # fmt: skip


def fake(**kwargs: Any) -> FakeTencent:
    return FakeTencent("/cgi-bin/stable_token", "/cgi-bin/message/custom/send",
                       {"grant_type": "client_credential", "appid": "wxSEND",
                        "secret": "the-app-secret"}, stable=True, **kwargs)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send_with(
    platform: FakeTencent, adapter: WeChatOfficialAccount | None = None, times: int = 1
) -> list[SendOutcome]:
    adapter = adapter or WeChatOfficialAccount()
    async with platform.client() as http:
        return [await adapter.send(SENDER, reply(), http=http, base_url=BASE)
                for _ in range(times)]  # fmt: skip


class TestSend:
    async def test_sends_a_customer_service_text_and_caches_the_token(self) -> None:
        platform = fake()
        outcomes = await send_with(platform, times=2)
        assert outcomes == [SendOutcome(delivered=True, status_code=200)] * 2
        assert platform.sent == [{"touser": "oFAN1", "msgtype": "text",
                                  "text": {"content": "您好"}}] * 2  # fmt: skip
        assert platform.token_fetches == 1
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-1"]

    async def test_the_token_comes_from_the_stable_token_api_with_the_secret_in_the_body(
        self,
    ) -> None:
        platform = fake()
        await send_with(platform)
        token_url, send_url = platform.urls
        assert token_url == f"{BASE}/cgi-bin/stable_token"  # no query string at all
        assert send_url == f"{BASE}/cgi-bin/message/custom/send?access_token=TOKEN-1"
        assert platform.force_refreshes == [False]

    async def test_the_secret_is_in_no_url_even_when_the_token_is_refused(self) -> None:
        expired = (200, {"errcode": 42001, "errmsg": "access_token expired"})
        platform = fake(send_answers=[expired, expired])
        await send_with(platform, times=2)
        assert len(platform.urls) > 4
        assert not [url for url in platform.urls if "secret" in url]

    async def test_replicas_share_one_token(self) -> None:
        """Normal mode hands every replica the same token: none invalidates another's."""
        platform = fake()
        replicas = [WeChatOfficialAccount(), WeChatOfficialAccount()]
        for adapter in replicas * 2:
            (outcome,) = await send_with(platform, adapter)
            assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1"] * 4
        assert platform.force_refreshes == [False, False]

    @pytest.mark.parametrize("code", [40001, 40014, 42001])
    async def test_a_refused_token_is_fetched_again_in_normal_mode(self, code: int) -> None:
        """The token was replaced elsewhere (another party forced a refresh, or it expired): a
        normal fetch brings the new one."""
        platform = fake()
        adapter = WeChatOfficialAccount()
        await send_with(platform, adapter)
        platform.rotate()
        platform.send_answers = [(200, {"errcode": code, "errmsg": "invalid credential"})]
        (outcome,) = await send_with(platform, adapter)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
        assert platform.force_refreshes == [False, False]

    async def test_the_refusal_comes_from_the_platform_checking_the_token(self) -> None:
        platform = fake()
        adapter = WeChatOfficialAccount()
        await send_with(platform, adapter)
        platform.rotate()
        (outcome,) = await send_with(platform, adapter)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
        assert platform.force_refreshes == [False, False]

    @pytest.mark.parametrize("code", [40001, 40014, 42001])
    async def test_a_refreshed_token_is_forced_only_when_the_same_one_comes_back(
        self, code: int
    ) -> None:
        platform = fake(send_answers=[(200, {"errcode": code, "errmsg": "invalid credential"})])
        (outcome,) = await send_with(platform)
        assert outcome.delivered
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-2"]
        assert platform.force_refreshes == [False, False, True]

    async def test_a_token_refused_twice_is_retryable_later(self) -> None:
        expired = (200, {"errcode": 42001, "errmsg": "access_token expired"})
        platform = fake(send_answers=[expired, expired])
        adapter = WeChatOfficialAccount()
        (outcome,) = await send_with(platform, adapter)
        assert (outcome.delivered, outcome.retryable) == (False, True)
        assert platform.force_refreshes == [False, False, True]
        (outcome,) = await send_with(platform, adapter)  # later: fetched again, normal mode
        assert outcome.delivered
        assert platform.force_refreshes == [False, False, True, False]
        assert platform.tokens_used == ["TOKEN-1", "TOKEN-2", "TOKEN-2"]

    async def test_a_forced_refresh_that_fails_is_the_outcome(self) -> None:
        platform = fake(send_answers=[(200, {"errcode": 40001, "errmsg": "invalid credential"})])
        adapter = WeChatOfficialAccount()
        await send_with(platform, adapter)  # TOKEN-1 cached, then refused once and replaced
        platform.revoked.add("TOKEN-2")
        platform.token_answers = [(200, {"access_token": "TOKEN-2", "expires_in": 7000}),
                                  (200, {"errcode": -1, "errmsg": "system error"})]  # fmt: skip
        (outcome,) = await send_with(platform, adapter)
        assert (outcome.delivered, outcome.retryable) == (False, True)
        assert platform.force_refreshes[-2:] == [False, True]

    async def test_concurrent_refusals_of_one_token_force_one_refresh(self) -> None:
        platform, adapter = fake(), WeChatOfficialAccount()
        await send_with(platform, adapter)
        platform.revoked.add("TOKEN-1")  # refused, yet normal mode still hands it out
        async with platform.client() as http:
            outcomes = await asyncio.gather(*(
                adapter.send(SENDER, reply(), http=http, base_url=BASE) for _ in range(10)
            ))  # fmt: skip
        assert all(o.delivered for o in outcomes)
        assert platform.force_refreshes == [False, False, True]
        assert platform.tokens_used.count("TOKEN-2") == 10

    async def test_the_token_is_refreshed_five_minutes_before_it_expires(self) -> None:
        clock, platform = Clock(), fake()
        adapter = WeChatOfficialAccount(clock=clock)
        await send_with(platform, adapter)
        clock.now += 7200 - 300 - 1
        await send_with(platform, adapter)
        assert platform.token_fetches == 1
        clock.now += 2
        await send_with(platform, adapter)
        assert platform.token_fetches == 2
        assert platform.force_refreshes == [False, False]

    async def test_the_remaining_lifetime_is_what_is_cached(self) -> None:
        """A replica fetching late gets the shared token with the time it has left."""
        clock = Clock()
        platform = fake(token_answers=[(200, {"access_token": "TOKEN-1", "expires_in": 1000})])
        adapter = WeChatOfficialAccount(clock=clock)
        await send_with(platform, adapter)
        clock.now += 1000 - 300 + 1
        await send_with(platform, adapter)
        assert platform.token_fetches == 2

    async def test_concurrent_sends_fetch_the_token_once(self) -> None:
        platform, adapter = fake(), WeChatOfficialAccount()
        async with platform.client() as http:
            outcomes = await asyncio.gather(*(
                adapter.send(SENDER, reply(), http=http, base_url=BASE) for _ in range(10)
            ))  # fmt: skip
        assert all(o.delivered for o in outcomes)
        assert platform.token_fetches == 1

    @pytest.mark.parametrize(
        ("status", "payload", "retryable"),
        [
            (200, {"errcode": -1, "errmsg": "system error"}, True),
            (200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}, True),
            (200, {"errcode": 45011, "errmsg": "api minute-quota reach limit"}, True),
            (200, {"errcode": 45015, "errmsg": "response out of time limit"}, False),
            (200, {"errcode": 40003, "errmsg": "invalid openid"}, False),
            (429, {}, True),
            (500, {}, True),
            (503, {}, True),
            (400, {"errcode": 44002, "errmsg": "empty post data"}, False),
            (404, {}, False),
        ],
    )  # fmt: skip
    async def test_failures(self, status: int, payload: dict[str, Any], retryable: bool) -> None:
        (outcome,) = await send_with(fake(send_answers=[(status, payload)]))
        assert (outcome.delivered, outcome.status_code, outcome.retryable) == (
            False, status, retryable)  # fmt: skip
        if payload:
            assert str(payload["errcode"]) in (outcome.error or "")

    @pytest.mark.parametrize(
        ("status", "payload", "retryable"),
        [
            (200, {"errcode": 40125, "errmsg": "invalid appsecret"}, False),
            (200, {"errcode": -1, "errmsg": "system error"}, True),
            (500, {}, True),
            (200, {"expires_in": 7200}, True),
        ],
    )  # fmt: skip
    async def test_a_token_fetch_failure_is_the_outcome(
        self, status: int, payload: dict[str, Any], retryable: bool
    ) -> None:
        platform = fake(token_answers=[(status, payload)])
        (outcome,) = await send_with(platform)
        assert (outcome.delivered, outcome.retryable) == (False, retryable)
        assert platform.sent == []
        assert "the-app-secret" not in (outcome.error or "")

    async def test_an_account_without_an_app_secret_cannot_send(self) -> None:
        account = SENDER.model_copy(update={"app_secret": None})
        async with fake().client() as http:
            outcome = await WeChatOfficialAccount().send(account, reply(), http=http,
                                                         base_url=BASE)  # fmt: skip
        assert (outcome.delivered, outcome.retryable) == (False, False)

    async def test_transport_errors_propagate(self) -> None:
        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("down")

        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
            with pytest.raises(httpx.TransportError):
                await WeChatOfficialAccount().send(SENDER, reply(), http=http, base_url=BASE)

    def test_the_default_base_url_is_the_real_api(self) -> None:
        assert WeChatOfficialAccount.default_send_base_url == "https://api.weixin.qq.com"
