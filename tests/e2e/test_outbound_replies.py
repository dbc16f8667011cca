"""Replies go out end to end: an agent's reply on ``scrm.replies.v1`` is sent through the
platform's send API (a local fake of Telegram's Bot API, over real HTTP), retried on 429, and
its outcome comes back as ``reply delivered`` / ``reply failed`` on the events topic."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from shared.contracts import ReplyDelivered, ReplyFailed, ReplyRequested
from shared.events import CloudEvent, decode, event_id
from shared.kafka import EventProducer
from shared.topics import EVENTS
from stack.embedded import free_port
from tests.conftest import Infrastructure
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


class FakeTelegram:
    """Telegram's ``sendMessage`` as far as the worker can tell: answers queued per chat."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.script: dict[int, list[int]] = {}  # chat id -> statuses to answer, in order
        self.app = FastAPI()
        self.app.post("/bot{token}/sendMessage")(self.send_message)

    async def send_message(self, token: str, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append((token, body))
        answers = self.script.get(body["chat_id"], [])
        status = answers.pop(0) if answers else 200
        if token != BOT_TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        if status == 200:
            result = {"message_id": len(self.calls), "chat": {"id": body["chat_id"]}}
            return JSONResponse({"ok": True, "result": result})
        description = {429: "Too Many Requests: retry after 1", 400: "Bad Request: chat not found"}
        return JSONResponse(
            {"ok": False, "error_code": status, "description": description.get(status, "oops"),
             **({"parameters": {"retry_after": 1}} if status == 429 else {})},
            status_code=status,
        )  # fmt: skip


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, within=10)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def _reply(reply_id: str, chat: int, text: str, *, copy: int = 0) -> CloudEvent[ReplyRequested]:
    reply = ReplyRequested(
        reply_id=reply_id, conversation_id="c-1", platform="telegram", account="bot-1",
        user_id=str(chat), text=text, agent_id="agent-7",
    )  # fmt: skip
    return CloudEvent.of(
        reply, id=event_id("test", reply_id, str(copy)), source="scrm/responder",
        subject=f"telegram:bot-1:{chat}",
    )  # fmt: skip


async def test_replies_are_sent_retried_and_their_outcomes_published(
    telegram: tuple[FakeTelegram, str], settings_for: Callable[..., Any], tmp_path: Path,
    infrastructure: Infrastructure,
) -> None:  # fmt: skip
    fake, base_url = telegram
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [
        {"platform": "telegram", "account_id": "bot-1", "secret_token": "s3cret",
         "bot_token": BOT_TOKEN},
    ]}))  # fmt: skip
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts, send_api_base_urls={"telegram": base_url},
        send_retry_base_seconds=0.2, send_poll_seconds=0.05,
    )  # fmt: skip
    fake.script = {111: [429, 200], 222: [400]}
    async with running(create_app(settings)):
        producer = EventProducer(settings)
        await producer.start()
        try:
            for event in (_reply("r-1", 111, "Hello again"), _reply("r-2", 222, "Anyone?")):
                await producer.publish(event)
            # The same reply requested again (a new event): queued once, sent once.
            await producer.publish(_reply("r-1", 111, "Hello again", copy=1))
        finally:
            await producer.stop()
        records = await read_topic(
            infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=2, within=30
        )
    outcomes = {e.data.reply_id: e.data for e in (decode(r.headers, r.value) for r in records)}
    delivered, failed = outcomes["r-1"], outcomes["r-2"]
    assert isinstance(delivered, ReplyDelivered)
    assert delivered.platform_message_id is not None
    assert delivered.user_id == "111"
    assert isinstance(failed, ReplyFailed)
    assert failed.status_code == 400
    assert "chat not found" in failed.error
    assert BOT_TOKEN not in failed.error
    sent_to = [body["chat_id"] for _, body in fake.calls]
    assert sorted(sent_to) == [111, 111, 222]  # the 429 retried once; the 400 never
    assert all(body["text"] in ("Hello again", "Anyone?") for _, body in fake.calls)
