"""The send half both platforms share: an access token from the platform's token API (cached in
``AccessTokens``), the message POSTed with it, and on an invalid-token errcode the token dropped,
one fetched again and the message sent once more. What differs between the platforms (how a
token is asked for, with which credentials, and the message) is a ``TencentApi``."""

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, NotRequired, Protocol, TypedDict

import httpx

from services.ingest.platforms.base import AccountT, SendOutcome
from services.ingest.platforms.common import json_object, not_sent, retryable_status
from services.ingest.platforms.wechat.tokens import AccessTokens, FetchedToken
from services.ingest.platforms.wechat.xml import MAX_ID
from shared.contracts import ReplyRequested

TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid credential / access_token, expired
BUSY = frozenset({-1, 45009, 45011})  # system busy, API rate limits


class TextContent(TypedDict):
    content: str


class TextMessage(TypedDict):
    touser: str
    msgtype: Literal["text"]
    agentid: NotRequired[int]  # WeCom: the app it is sent from
    text: TextContent


class TencentApi(Protocol[AccountT]):
    """One platform's token and send APIs."""

    @property
    def token_path(self) -> str: ...

    @property
    def send_path(self) -> str: ...

    @property
    def can_force_refresh(self) -> bool:
        """Whether the token API has a forced-refresh mode."""
        ...

    def credentials(self, account: AccountT) -> dict[str, str] | None:
        """What the token API needs; None if the account has no secret for sending."""
        ...

    async def request_token(
        self, http: httpx.AsyncClient, url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> httpx.Response: ...  # fmt: skip

    def message(self, account: AccountT, reply: ReplyRequested) -> TextMessage | SendOutcome:
        """The message to send, or why it cannot be sent."""
        ...


@dataclass(frozen=True)
class _TokenRefused:
    """The send API said the token is invalid (expired, or replaced by a forced refresh)."""

    error: str


class TencentSender(Generic[AccountT]):
    """Replies through one platform's ``TencentApi``, with its access tokens cached."""

    def __init__(
        self, api: TencentApi[AccountT], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._api = api
        self._tokens = AccessTokens(clock, can_force_refresh=api.can_force_refresh)

    async def send(
        self, account: AccountT, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        credentials = self._api.credentials(account)
        if credentials is None:
            return not_sent("the account has no secret for sending")
        message = self._api.message(account, reply)
        if isinstance(message, SendOutcome):
            return message
        key = (account.account_id, base_url)
        fetch = functools.partial(self._fetch_token, http, base_url, credentials)
        refused: str | None = None
        for _ in range(2):  # the second time with a token fetched after the first was refused
            token = await self._tokens.get(key, fetch, refused=refused)
            if isinstance(token, SendOutcome):
                return token
            sent = await self._post(http, base_url, token, message)
            if not isinstance(sent, _TokenRefused):
                return sent
            self._tokens.drop(key, token)
            refused = token
        # a fresh token refused too: try again later
        return SendOutcome(delivered=False, status_code=200, error=sent.error, retryable=True)

    async def _fetch_token(
        self, http: httpx.AsyncClient, base_url: str, credentials: dict[str, str],
        force_refresh: bool,
    ) -> FetchedToken | SendOutcome:  # fmt: skip
        url = f"{base_url.rstrip('/')}{self._api.token_path}"
        response = await self._api.request_token(
            http, url, credentials, force_refresh=force_refresh
        )
        failed = _http_failure(response, "access token")
        if failed is not None:
            return failed
        payload = json_object(response, or_none=True)
        if payload is None:
            return _unreadable("access token: the answer is not a JSON object")
        if _errcode(payload) != 0:
            return _errcode_outcome(payload, "access token")
        token, expires_in = payload.get("access_token"), payload.get("expires_in", 7200)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            return _unreadable("access token: no access_token in the answer")
        return FetchedToken(token, float(expires_in))

    async def _post(
        self, http: httpx.AsyncClient, base_url: str, token: str, message: TextMessage
    ) -> SendOutcome | _TokenRefused:
        response = await http.post(
            f"{base_url.rstrip('/')}{self._api.send_path}", params={"access_token": token},
            json=message,
        )  # fmt: skip
        failed = _http_failure(response, "send")
        if failed is not None:
            return failed
        payload = json_object(response, or_none=True)
        if payload is None:
            return _unreadable("send: the answer is not a JSON object")
        code = _errcode(payload)
        if code == 0:
            msgid = payload.get("msgid")
            message_id = str(msgid)[:MAX_ID] if msgid else None
            return SendOutcome(delivered=True, status_code=200, platform_message_id=message_id)
        if code in TOKEN_INVALID:
            return _TokenRefused(f"send: {_errcode_text(payload)}".strip())
        return _errcode_outcome(payload, "send")


def _errcode(payload: Mapping[str, object]) -> int:
    code = payload.get("errcode", 0)
    return code if isinstance(code, int) else -2


def _errcode_text(payload: Mapping[str, object]) -> str:
    return f"errcode {payload.get('errcode')} {str(payload.get('errmsg', ''))[:300]}"


def _errcode_outcome(payload: Mapping[str, object], what: str) -> SendOutcome:
    """A 200 answer with an errcode: retryable if the platform is busy or rate-limiting."""
    return SendOutcome(
        delivered=False, status_code=200, error=f"{what}: {_errcode_text(payload)}".strip(),
        retryable=payload.get("errcode") in BUSY,
    )  # fmt: skip


def _http_failure(response: httpx.Response, what: str) -> SendOutcome | None:
    """An outcome for a non-200 answer (retryable for 429/5xx), else None."""
    status = response.status_code
    if status == 200:
        return None
    payload = json_object(response)
    detail = f" {_errcode_text(payload)}" if "errcode" in payload else ""
    return SendOutcome(
        delivered=False, status_code=status, error=f"{what}: HTTP {status}{detail}".strip(),
        retryable=retryable_status(status),
    )  # fmt: skip


def _unreadable(error: str) -> SendOutcome:
    """A 200 answer that is not what the API answers: retryable."""
    return SendOutcome(delivered=False, status_code=200, error=error, retryable=True)
