"""What the WeChat Official Account and WeCom tests share: the request they build, the fuzz
check both adapters must pass, and a local fake of Tencent's token and send APIs."""

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.ingest.platforms.base import InboundRequest, MalformedPayload, VerificationError
from services.ingest.platforms.wechat import (
    WeChatAccount,
    WeChatOfficialAccount,
    WeCom,
    WeComAccount,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TS = "1700000000"


def request(
    method: str = "POST", query: dict[str, str] | None = None, body: bytes = b""
) -> InboundRequest:
    return InboundRequest(method=method, query=query or {}, headers={}, body=body,
                          received_at=NOW)  # fmt: skip


def only_protocol_errors(
    adapter: WeChatOfficialAccount | WeCom,
    accounts: Iterable[WeChatAccount] | Iterable[WeComAccount],
    req: InboundRequest,
) -> None:
    """Whatever ``req`` is, each account's adapter raises at most VerificationError (handshake,
    verify) and MalformedPayload (normalise)."""
    for account in accounts:
        try:
            if req.method == "GET":
                adapter.handshake(account, req)  # type: ignore[arg-type]
            else:
                adapter.verify(account, req)  # type: ignore[arg-type]
        except VerificationError:
            pass
        with contextlib.suppress(MalformedPayload):
            adapter.normalise(account, req)  # type: ignore[arg-type]


@dataclass
class FakeTencent:
    """A fake of the Official Account / WeCom token and send APIs. ``send_answers`` are
    (status, JSON) answered in turn to sends (then success)."""

    token_path: str
    send_path: str
    credentials: dict[str, str]
    send_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    token_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    token_fetches: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    tokens_used: list[str] = field(default_factory=list)
    success: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.token_path:
            assert request.method == "GET"
            assert dict(request.url.params) == self.credentials
            self.token_fetches += 1
            if self.token_answers:
                status, payload = self.token_answers.pop(0)
                return httpx.Response(status, json=payload)
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok",
                                             "access_token": f"TOKEN-{self.token_fetches}",
                                             "expires_in": 7200})  # fmt: skip
        assert request.url.path == self.send_path, request.url
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        token = request.url.params["access_token"]
        self.tokens_used.append(token)
        self.sent.append(json.loads(request.content))
        if self.send_answers:
            status, payload = self.send_answers.pop(0)
            return httpx.Response(status, json=payload)
        return httpx.Response(200, json=self.success)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
