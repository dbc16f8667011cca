"""What the WeChat Official Account and WeCom tests share: the request they build, the fuzz
check both adapters must pass, a local fake of Tencent's token and send APIs, and the Official
Account's test accounts and sealed pushes."""

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    VerificationError,
    verify_push,
)
from services.ingest.platforms.wechat import (
    WeChatAccount,
    WeChatOfficialAccount,
    WeCom,
    WeComAccount,
)
from shared.contracts import FanEvent
from shared.events import CloudEvent
from tests.platform_vectors import wechat as vectors

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TS = "1700000000"  # for sealed pushes, which are not checked for freshness
NOW_TS = str(int(NOW.timestamp()))  # for plain-mode pushes, which are


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
        readable = req
        try:
            if req.method == "GET":
                adapter.handshake(account, req)  # type: ignore[arg-type]
            else:  # what normalise reads, as the intake hands it over
                readable = verify_push(adapter, account, req)  # type: ignore[misc]
        except VerificationError:
            pass
        with contextlib.suppress(MalformedPayload):
            adapter.normalise(account, readable)  # type: ignore[arg-type]


@dataclass
class FakeTencent:
    """A fake of the Official Account / WeCom token and send APIs. ``send_answers`` are
    (status, JSON) answered in turn to sends (then success); ``token_answers`` likewise to token
    fetches (then a token).

    With ``stable`` (the Official Account's ``POST /cgi-bin/stable_token``) the token is one
    shared token, ``TOKEN-<generation>``: a normal fetch returns the current one, a forced
    refresh (or ``rotate()``) replaces it; a send with any other token, or with a ``revoked``
    one, is answered errcode 40001. Without it (WeCom's ``GET /cgi-bin/gettoken``) each fetch
    returns a new token and no token is checked."""

    token_path: str
    send_path: str
    credentials: dict[str, str]
    stable: bool = False
    send_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    token_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    token_fetches: int = 0
    force_refreshes: list[bool] = field(default_factory=list)  # stable: each fetch's mode
    generation: int = 1
    revoked: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)  # every request's URL
    sent: list[dict[str, Any]] = field(default_factory=list)
    tokens_used: list[str] = field(default_factory=list)
    success: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})

    @property
    def current(self) -> str:
        return f"TOKEN-{self.generation}"

    def rotate(self) -> None:
        """Another party (a replica, the console) forces a refresh: the current token dies."""
        self.generation += 1

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.stable:
            assert request.method == "POST"
            assert request.headers["content-type"] == "application/json"
            assert not request.url.query, request.url  # nothing in the URL, the secret least
            body = json.loads(request.content)
            force = body.pop("force_refresh")
            assert isinstance(force, bool)
            assert body == self.credentials
            self.force_refreshes.append(force)
        else:
            assert request.method == "GET"
            assert dict(request.url.params) == self.credentials
        self.token_fetches += 1
        if self.token_answers:
            status, payload = self.token_answers.pop(0)
            return httpx.Response(status, json=payload)
        if not self.stable:  # every gettoken answer is a new token here
            self.generation = self.token_fetches
        elif self.force_refreshes[-1]:
            self.generation += 1
        if self.stable:
            return httpx.Response(200, json={"access_token": self.current, "expires_in": 7200})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok",
                                         "access_token": self.current,
                                         "expires_in": 7200})  # fmt: skip

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if request.url.path == self.token_path:
            return self._token(request)
        assert request.url.path == self.send_path, request.url
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        token = request.url.params["access_token"]
        self.tokens_used.append(token)
        self.sent.append(json.loads(request.content))
        if self.send_answers:
            status, payload = self.send_answers.pop(0)
            return httpx.Response(status, json=payload)
        if self.stable and (token != self.current or token in self.revoked):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        return httpx.Response(200, json=self.success)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


# --- the Official Account's test accounts and sealed pushes ---------------------------------

SDK = WeChatAccount.model_validate(vectors.SDK_ACCOUNT)
PLAIN = WeChatAccount.model_validate(vectors.PLAIN_ACCOUNT)
SAFE = WeChatAccount.model_validate(vectors.SAFE_ACCOUNT)
ADAPTER = WeChatOfficialAccount()


def push(xml: str, *, nonce: str = "1") -> InboundRequest:
    body, query = vectors.safe_push(xml, timestamp=TS, nonce=nonce)
    return request(query=query, body=body)


def events(xml: str) -> list[CloudEvent[FanEvent]]:
    req = push(xml)
    return list(ADAPTER.normalise(SAFE, verify_push(ADAPTER, SAFE, req)))


def only(xml: str) -> Any:
    (event,) = events(xml)
    return event.data


def msg(kind: str, fields: str, msg_id: str = "6054768590064713728") -> str:
    return vectors.message_xml(kind, fields, msg_id=msg_id, create_time=1409735668)
