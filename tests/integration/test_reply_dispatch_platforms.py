"""The reply worker with every platform's real adapter, against one local fake that answers as
each platform's send API does (paths, auth and answers per the platforms' documentation): each
reply is delivered once, with the platform's message id, through the base URL configured."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest

from services.ingest import repository
from services.ingest.accounts import AccountDirectory, parse_account
from services.ingest.config import IngestSettings
from services.ingest.models import infrastructure
from services.ingest.outbound import ReplyDispatcher
from services.ingest.platforms import build_platforms
from shared.contracts import ReplyRequested
from shared.db import create_engine, create_sessionmaker
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

ACCOUNTS: dict[str, dict[str, Any]] = {
    "telegram": {"secret_token": "s", "bot_token": "123:abc"},
    "line": {"channel_secret": "s", "channel_access_token": "line-token"},
    "messenger": {"app_secret": "s", "verify_token": "v", "access_token": "page-token"},
    "instagram": {"app_secret": "s", "verify_token": "v", "access_token": "ig-token"},
    "whatsapp": {"app_secret": "s", "verify_token": "v", "access_token": "wa-token"},
    "x": {"user_id": "1", "consumer_secret": "s", "access_token": "x-token"},
    "weibo": {"app_secret": "s", "access_token": "weibo-token"},
    "wechat": {"app_id": "wx1", "token": "t", "app_secret": "wx-secret"},
    "wecom": {"corp_id": "ww1", "token": "t", "encoding_aes_key": "a" * 43, "agent_id": 1000002,
              "corp_secret": "corp-secret"},
}  # fmt: skip
USER = {"x": "2244994945", "telegram": "42", "wechat": "oUser1", "wecom": "zhangsan"}


def answer(platform: str, request: httpx.Request) -> httpx.Response:
    """The success answer of each platform's send API, checking what identifies the call."""
    path, auth = request.url.path, request.headers.get("authorization", "")
    if platform == "telegram":
        assert path == "/bot123:abc/sendMessage"
        return httpx.Response(200, json={"ok": True, "result": {"message_id": 7}})
    if platform == "line":
        assert (path, auth) == ("/v2/bot/message/push", "Bearer line-token")
        assert request.headers["x-line-retry-key"]
        return httpx.Response(200, json={"sentMessages": [{"id": "line-7", "quoteToken": "q"}]})
    if platform in ("messenger", "instagram"):
        assert path == "/v21.0/me/messages"
        assert auth in ("Bearer page-token", "Bearer ig-token")
        return httpx.Response(200, json={"recipient_id": "u", "message_id": f"m_{platform}"})
    if platform == "whatsapp":
        assert (path, auth) == ("/v21.0/acct-whatsapp/messages", "Bearer wa-token")
        return httpx.Response(200, json={"messaging_product": "whatsapp",
                                         "messages": [{"id": "wamid.7"}]})  # fmt: skip
    if platform == "x":
        assert (path, auth) == (f"/2/dm_conversations/with/{USER['x']}/messages", "Bearer x-token")
        return httpx.Response(201, json={"data": {"dm_conversation_id": "c", "dm_event_id": "x7"}})
    if platform == "weibo":
        assert path == "/2/messages/reply.json"
        return httpx.Response(200, json={"id": 7, "result": True})
    if platform == "wechat":
        if path == "/cgi-bin/stable_token":
            return httpx.Response(200, json={"access_token": "wx-token", "expires_in": 7200})
        assert (path, request.url.params["access_token"]) == ("/cgi-bin/message/custom/send",
                                                               "wx-token")  # fmt: skip
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
    if platform == "wecom":
        if path == "/cgi-bin/gettoken":
            return httpx.Response(200, json={"errcode": 0, "access_token": "wc-token",
                                             "expires_in": 7200})  # fmt: skip
        assert (path, request.url.params["access_token"]) == ("/cgi-bin/message/send", "wc-token")
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": "wc-7"})
    raise AssertionError(f"no fake for {platform}")


@pytest.fixture
async def world(
    settings_for: Callable[..., Any],
) -> AsyncIterator[tuple[ReplyDispatcher, Any, list[tuple[str, httpx.Request]]]]:
    settings: IngestSettings = settings_for(
        IngestSettings,
        send_api_base_urls={platform: f"http://{platform}.fake" for platform in ACCOUNTS},
    )
    platforms = build_platforms(settings)
    directory = AccountDirectory([
        parse_account({"platform": p, "account_id": f"acct-{p}", **fields}, platforms.adapters)
        for p, fields in ACCOUNTS.items()
    ])  # fmt: skip
    seen: list[tuple[str, httpx.Request]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        platform = request.url.host.removesuffix(".fake")
        seen.append((platform, request))
        return answer(platform, request)

    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        dispatcher = ReplyDispatcher(
            settings, senders=platforms.senders, accounts=directory, sessionmaker=sessionmaker,
            outbox=Outbox(settings, infrastructure), http=http,
        )  # fmt: skip
        yield dispatcher, sessionmaker, seen
    await engine.dispose()


async def test_every_platforms_reply_is_delivered_through_its_send_api(
    world: tuple[ReplyDispatcher, Any, list[tuple[str, httpx.Request]]],
) -> None:
    dispatcher, sessionmaker, seen = world
    replies = [
        ReplyRequested(
            reply_id=f"r-{platform}", conversation_id="c", platform=platform,
            account=f"acct-{platform}", user_id=USER.get(platform, "fan-1"),
            text="Your parcel ships today. 今天发货。",
        )
        for platform in ACCOUNTS
    ]  # fmt: skip
    async with sessionmaker() as session, session.begin():
        for reply in replies:
            await repository.queue_reply(session, reply, now=datetime.now(UTC))
    assert await dispatcher.dispatch_due() == len(replies)
    assert await dispatcher.dispatch_due() == 0
    for reply in replies:
        async with sessionmaker() as session:
            row = await repository.get_reply(session, reply.reply_id)
        assert row is not None
        assert (row.platform, row.status, row.attempts) == (reply.platform, "delivered", 1), (
            row.last_status_code, row.last_error,
        )  # fmt: skip
        assert row.platform_message_id or reply.platform in ("wechat", "weibo")
    sent = [(p, r) for p, r in seen if "token" not in r.url.path]
    assert sorted(p for p, _ in sent) == sorted(ACCOUNTS)
    for platform, request in sent:  # the text arrives whole, however the platform encodes it
        content = unquote_plus(unquote_plus(request.content.decode()))
        assert "今天发货" in content or "\\u4eca\\u5929" in content, (platform, content)
        assert "secret" not in str(request.url), platform
