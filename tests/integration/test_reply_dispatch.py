"""Outbound replies: sent through a platform's send API (a local fake here), retried with
backoff on 429/5xx/network errors, never on other 4xx, the outcome recorded as an event."""

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from services.ingest import repository
from services.ingest.accounts import AccountDirectory
from services.ingest.config import IngestSettings
from services.ingest.domain import backoff
from services.ingest.models import OutboundReply, infrastructure
from services.ingest.outbound import ReplyDispatcher
from services.ingest.platforms.base import PlatformAccount, SendOutcome
from shared.contracts import ReplyRequested
from shared.db import create_engine, create_sessionmaker
from shared.outbox import Outbox

pytestmark = pytest.mark.integration


class FakeSender:
    """Speaks to the fake send API like a real adapter speaks to its platform."""

    platforms: ClassVar[tuple[str, ...]] = ("telegram",)
    default_send_base_url: ClassVar[str] = "https://send.example"

    async def send(
        self, account: PlatformAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        answer = await http.post(
            f"{base_url}/send", json={"to": reply.user_id, "text": reply.text},
            headers={"Idempotency-Key": reply.reply_id},
        )  # fmt: skip
        if answer.status_code == 200:
            return SendOutcome(True, 200, platform_message_id=answer.json()["id"])
        retryable = answer.status_code == 429 or answer.status_code >= 500
        return SendOutcome(False, answer.status_code, error=answer.text, retryable=retryable)


class FakeSendApi:
    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        body = {"id": f"pm-{len(self.requests)}"} if answer == 200 else {"error": "nope"}
        return httpx.Response(answer, json=body)


@pytest.fixture
async def world(settings_for: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    settings: IngestSettings = settings_for(
        IngestSettings, send_retry_base_seconds=0, send_max_attempts=3
    )
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    clients: list[httpx.AsyncClient] = []

    def make(api: FakeSendApi, accounts: list[PlatformAccount] | None = None) -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(api))
        clients.append(http)
        directory = AccountDirectory(
            accounts if accounts is not None
            else [PlatformAccount(platform="telegram", account_id="bot1")]
        )  # fmt: skip
        dispatcher = ReplyDispatcher(
            settings, senders={"telegram": FakeSender()}, accounts=directory,
            sessionmaker=sessionmaker, outbox=Outbox(settings, infrastructure), http=http,
        )  # fmt: skip
        return dispatcher, sessionmaker

    yield make
    for client in clients:
        await client.aclose()
    await engine.dispose()


def reply(reply_id: str | None = None) -> ReplyRequested:
    return ReplyRequested(
        reply_id=reply_id or uuid.uuid4().hex, conversation_id="c1", platform="telegram",
        account="bot1", user_id="42", text="Your parcel ships today.",
    )  # fmt: skip


async def queue(sessionmaker: Any, *replies: ReplyRequested) -> None:
    from datetime import UTC, datetime

    async with sessionmaker() as session, session.begin():
        for r in replies:
            await repository.queue_reply(session, r, now=datetime.now(UTC))


async def state(sessionmaker: Any, reply_id: str) -> OutboundReply:
    async with sessionmaker() as session:
        found = await repository.get_reply(session, reply_id)
    assert found is not None
    return found


async def outcome_events(sessionmaker: Any) -> list[str]:
    async with sessionmaker() as session:
        rows = (await session.execute(select(infrastructure.outbox))).all()
    return [dict(r.headers)["ce_type"] for r in rows]


class TestReplyDispatch:
    async def test_a_reply_is_sent_once_and_its_delivery_recorded(self, world: Any) -> None:
        api = FakeSendApi(200)
        dispatcher, sessionmaker = world(api)
        sent = reply()
        await queue(sessionmaker, sent)
        assert await dispatcher.dispatch_due() == 1
        assert await dispatcher.dispatch_due() == 0, "a delivered reply is not sent again"
        row = await state(sessionmaker, sent.reply_id)
        assert (row.status, row.attempts, row.platform_message_id) == ("delivered", 1, "pm-1")
        assert api.requests[0].headers["idempotency-key"] == sent.reply_id
        assert await outcome_events(sessionmaker) == ["scrm.reply.delivered.v1"]

    async def test_the_same_reply_queued_twice_is_one_reply(self, world: Any) -> None:
        api = FakeSendApi()
        dispatcher, sessionmaker = world(api)
        twice = reply()
        await queue(sessionmaker, twice, twice)
        await dispatcher.dispatch_due()
        assert len(api.requests) == 1

    async def test_a_429_is_retried_and_then_delivered(self, world: Any) -> None:
        api = FakeSendApi(429, 200)
        dispatcher, sessionmaker = world(api)
        sent = reply()
        await queue(sessionmaker, sent)
        await dispatcher.dispatch_due()
        assert (await state(sessionmaker, sent.reply_id)).status == "pending"
        await dispatcher.dispatch_due()
        row = await state(sessionmaker, sent.reply_id)
        assert (row.status, row.attempts) == ("delivered", 2)

    async def test_a_network_error_is_retried(self, world: Any) -> None:
        api = FakeSendApi(httpx.ConnectError("refused"), 200)
        dispatcher, sessionmaker = world(api)
        sent = reply()
        await queue(sessionmaker, sent)
        await dispatcher.dispatch_due()
        await dispatcher.dispatch_due()
        assert (await state(sessionmaker, sent.reply_id)).status == "delivered"

    async def test_a_400_fails_at_once_without_retry(self, world: Any) -> None:
        api = FakeSendApi(400, 200)
        dispatcher, sessionmaker = world(api)
        sent = reply()
        await queue(sessionmaker, sent)
        await dispatcher.dispatch_due()
        assert await dispatcher.dispatch_due() == 0
        row = await state(sessionmaker, sent.reply_id)
        assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 400)
        assert await outcome_events(sessionmaker) == ["scrm.reply.failed.v1"]

    async def test_retries_stop_at_the_attempt_limit(self, world: Any) -> None:
        api = FakeSendApi(503, 503, 503, 200)
        dispatcher, sessionmaker = world(api)
        sent = reply()
        await queue(sessionmaker, sent)
        for _ in range(4):
            await dispatcher.dispatch_due()
        row = await state(sessionmaker, sent.reply_id)
        assert (row.status, row.attempts) == ("failed", 3)
        assert len(api.requests) == 3

    async def test_a_reply_for_an_unknown_account_fails_without_a_request(self, world: Any) -> None:
        api = FakeSendApi()
        dispatcher, sessionmaker = world(api, accounts=[])
        sent = reply()
        await queue(sessionmaker, sent)
        await dispatcher.dispatch_due()
        assert (await state(sessionmaker, sent.reply_id)).status == "failed"
        assert api.requests == []

    async def test_a_surprising_error_on_one_reply_leaves_the_others_outcomes_intact(
        self, world: Any
    ) -> None:
        api = FakeSendApi(httpx.DecodingError("garbled answer"), 200)
        dispatcher, sessionmaker = world(api)
        first, second = reply(), reply()
        await queue(sessionmaker, first, second)
        assert await dispatcher.dispatch_due() == 2
        rows = [await state(sessionmaker, r.reply_id) for r in (first, second)]
        assert sorted((row.status, row.attempts) for row in rows) == [
            ("delivered", 1), ("pending", 1)
        ]  # fmt: skip
        assert await outcome_events(sessionmaker) == ["scrm.reply.delivered.v1"]


class TestBackoff:
    def test_doubles_from_the_base_up_to_the_cap(self) -> None:
        waits = [backoff(n, base=2, cap=60).total_seconds() for n in range(1, 8)]
        assert waits == [2, 4, 8, 16, 32, 60, 60]
