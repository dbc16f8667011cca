"""A reply whose ``in_reply_to`` is no Telegram message id ("²" passes ``isdigit`` and fails
``int``) goes out once, without a quote: read once, not a failure the worker retries."""

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

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
ACCOUNT = {"platform": "telegram", "account_id": "bot-1", "secret_token": "s", "bot_token": "1:a"}


@pytest.fixture
async def dispatcher(
    settings_for: Callable[..., Any],
) -> AsyncIterator[tuple[ReplyDispatcher, Any, list[dict[str, Any]]]]:
    settings: IngestSettings = settings_for(
        IngestSettings, send_api_base_urls={"telegram": "http://telegram.fake"}
    )
    platforms = build_platforms(settings)
    accounts = AccountDirectory([parse_account(ACCOUNT, platforms.adapters)])
    sent: list[dict[str, Any]] = []

    def telegram(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"ok": True, "result": {"message_id": len(sent)}})

    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    async with httpx.AsyncClient(transport=httpx.MockTransport(telegram)) as http:
        yield ReplyDispatcher(
            settings, senders=platforms.senders, accounts=accounts, sessionmaker=sessionmaker,
            outbox=Outbox(settings, infrastructure), http=http,
        ), sessionmaker, sent  # fmt: skip
    await engine.dispose()


@pytest.mark.parametrize(
    "in_reply_to", ["²", "١٢٣", "9" * 20], ids=["superscript", "arabic", "beyond-int64"]
)
async def test_a_reply_to_no_message_id_is_sent_once_without_a_quote(
    dispatcher: tuple[ReplyDispatcher, Any, list[dict[str, Any]]], in_reply_to: str
) -> None:
    worker, sessionmaker, sent = dispatcher
    reply = ReplyRequested(
        reply_id="r-1", conversation_id="c-1", platform="telegram", account="bot-1",
        user_id="42", text="On its way!", in_reply_to=in_reply_to,
    )  # fmt: skip
    async with sessionmaker() as session, session.begin():
        await repository.queue_reply(session, reply, now=datetime.now(UTC))
    assert await worker.dispatch_due() == 1
    async with sessionmaker() as session:
        row = await repository.get_reply(session, "r-1")
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)
    assert sent == [{"chat_id": 42, "text": "On its way!"}]
