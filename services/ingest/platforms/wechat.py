"""WeChat Official Accounts (``wechat``) and WeCom (``wecom``): XML pushes, in the clear or sealed
with the ``WXBizMsgCrypt`` scheme (``wechat_crypto``), and the customer-service send APIs.

Official Account: the URL check and plain-mode pushes carry ``signature = sha1(sorted(token,
timestamp, nonce))``, which does not cover the body; safe and compatible mode add
``encrypt_type=aes`` and ``msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt))`` and
the body's ``<Encrypt>`` opens to the message. An account configured with an EncodingAESKey only
accepts sealed pushes, so its bodies are always authenticated. WeCom always seals, the URL check
included (its ``echostr`` is a ciphertext whose plaintext is the answer).

Sealed pushes get no freshness check (neither platform's SDK has one; their published vectors
date from 2014): a replay can only repeat the same sealed body, which maps to the same event ids
and the intake drops it. A plain-mode push is different: its signature covers no body, so a
signature/timestamp/nonce triple once seen (the URL check's included, which access logs keep)
would carry any body forever. Plain-mode pushes are therefore refused (``stale_timestamp``) when
their ``timestamp`` is further than ``webhook_tolerance_seconds`` from receipt. The URL check
(GET) has no freshness check: it only echoes ``echostr``. Events carry no MsgId: their id is
``FromUserName|CreateTime|Event|EventKey``, as WeChat's documentation recommends for
de-duplicating event retries.

Sending: the Official Account takes its access token from the stable-token API (a POST with the
AppSecret in the JSON body, never in a URL). In normal mode that API hands every caller the same
token while it is valid, so several ingest replicas share one token instead of invalidating each
other's, as each call to ``/cgi-bin/token`` does. WeCom's ``gettoken`` takes the corpsecret as a
query parameter: that is WeCom's design, there is no other form.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import Field, SecretStr

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
)
from services.ingest.platforms.common import (
    MAX_TEXT,
    Payload,
    fan_event,
    from_seconds,
    not_sent,
    parse_object,
    retryable_status,
)
from services.ingest.platforms.wechat_crypto import (
    CryptoError,
    MessageCrypt,
    sha1_signature,
    signature_matches,
)
from shared.contracts import (
    FanEvent,
    FanFollowed,
    FanUnfollowed,
    MediaRef,
    MessageReceived,
    ReplyRequested,
)
from shared.events import CloudEvent

MAX_ID = 256
MAX_URL = 2_048
MAX_ECHO = 1_024
ACK = PlatformAnswer(body=b"success", media_type="text/plain")
TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid credential / access_token, expired
BUSY = frozenset({-1, 45009, 45011})  # system busy, API rate limits
TOKEN_REFRESH_EARLY = 300.0
MAX_TIMESTAMP_DIGITS = 12  # seconds since the epoch; longer is not a timestamp
DEFAULT_TOLERANCE = float(IngestSettings.model_fields["webhook_tolerance_seconds"].default)


class WeChatAccount(PlatformAccount):
    platform: Literal["wechat"]
    app_id: str = Field(min_length=1, max_length=64)
    token: SecretStr
    encoding_aes_key: SecretStr | None = None  # safe mode; required for it
    app_secret: SecretStr | None = None  # for sending


class WeComAccount(PlatformAccount):
    platform: Literal["wecom"]
    corp_id: str = Field(min_length=1, max_length=64)
    token: SecretStr
    encoding_aes_key: SecretStr
    agent_id: int | None = None  # the app replies are sent from
    corp_secret: SecretStr | None = None  # that app's secret, for sending


# --- payloads ---------------------------------------------------------------------------------


class Envelope(Payload):
    """The outer XML of a sealed push."""

    Encrypt: str = Field(min_length=1)


class PushedXml(Payload):
    """One pushed message or event, as the direct children of ``<xml>``."""

    ToUserName: str | None = Field(default=None, max_length=MAX_ID)
    FromUserName: str = Field(min_length=1, max_length=MAX_ID)
    CreateTime: int | None = Field(default=None, ge=0, le=100_000_000_000)
    MsgType: str = Field(min_length=1, max_length=64)
    MsgId: str | None = Field(default=None, max_length=MAX_ID)
    AgentID: str | None = Field(default=None, max_length=MAX_ID)
    Content: str | None = Field(default=None, max_length=MAX_TEXT)
    PicUrl: str | None = Field(default=None, max_length=MAX_URL)
    MediaId: str | None = Field(default=None, max_length=MAX_ID)
    Format: str | None = Field(default=None, max_length=32)
    Recognition: str | None = Field(default=None, max_length=MAX_TEXT)
    ThumbMediaId: str | None = Field(default=None, max_length=MAX_ID)
    Location_X: float | None = Field(default=None, ge=-90, le=90)
    Location_Y: float | None = Field(default=None, ge=-180, le=180)
    Scale: str | None = Field(default=None, max_length=32)
    Label: str | None = Field(default=None, max_length=MAX_TEXT)
    Title: str | None = Field(default=None, max_length=MAX_TEXT)
    Description: str | None = Field(default=None, max_length=MAX_TEXT)
    Url: str | None = Field(default=None, max_length=MAX_URL)
    Event: str | None = Field(default=None, max_length=64)
    EventKey: str | None = Field(default=None, max_length=MAX_ID)


def parse_xml(body: bytes) -> dict[str, str]:
    """The text of each direct child of the root ``<xml>`` (first occurrence wins). No DTDs, no
    entities. Raises MalformedPayload."""
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError, UnicodeError) as exc:
        raise MalformedPayload(f"not XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise MalformedPayload("the root element is not <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in fields and len(child) == 0:
            fields[child.tag] = (child.text or "").strip()
    return fields


def _model(model: type[Payload], fields: Mapping[str, str]) -> Any:
    return parse_object(model, {name: value for name, value in fields.items() if value != ""})


# --- normalisation ----------------------------------------------------------------------------


IGNORED_EVENTS = frozenset({
    "view", "location", "templatesendjobfinish", "masssendjobfinish", "view_miniprogram",
    "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
    "location_select", "enter_agent", "batch_job_result", "change_contact", "open_approval_change",
})  # fmt: skip


def _occurred_at(msg: PushedXml, request: InboundRequest) -> datetime:
    if msg.CreateTime is None:
        return request.received_at
    try:
        return from_seconds(msg.CreateTime)
    except (OverflowError, OSError, ValueError):
        raise MalformedPayload("CreateTime out of range") from None


MessageKind = Literal["text", "image", "voice", "video", "location", "link", "other"]


def _message(msg: PushedXml) -> tuple[MessageKind, str | None, tuple[MediaRef, ...]] | None:
    """(message_type, text, media) for a message kind; None for an unknown kind."""
    kind = msg.MsgType.lower()
    if kind == "text":
        return "text", msg.Content, ()
    if kind == "image":
        return "image", None, (MediaRef(kind="image", platform_media_id=msg.MediaId,
                                        url=msg.PicUrl),)  # fmt: skip
    if kind == "voice":
        mime = f"audio/{msg.Format.lower()}" if msg.Format else None
        media = MediaRef(kind="voice", platform_media_id=msg.MediaId, mime_type=mime)
        return "voice", msg.Recognition, (media,)
    if kind in ("video", "shortvideo"):
        return "video", None, (MediaRef(kind="video", platform_media_id=msg.MediaId),)
    if kind == "location":
        geo = (
            f"geo:{msg.Location_X},{msg.Location_Y}"
            if msg.Location_X is not None and msg.Location_Y is not None
            else None
        )
        return "location", msg.Label, (MediaRef(kind="location", url=geo),)
    if kind == "link":
        text = "\n".join(part for part in (msg.Title, msg.Description) if part) or None
        return "link", text, (MediaRef(kind="link", url=msg.Url),)
    return None


def normalise_push(
    msg: PushedXml, *, platform: str, account: str, request: InboundRequest,
    thread_ref: str | None = None,
) -> list[CloudEvent[FanEvent]]:  # fmt: skip
    occurred_at = _occurred_at(msg, request)
    user = msg.FromUserName
    common: dict[str, Any] = {
        "platform": platform, "account": account, "user_id": user,
        "occurred_at": occurred_at, "thread_ref": thread_ref,
    }  # fmt: skip
    contract: FanEvent
    if msg.MsgType.lower() == "event":
        event = (msg.Event or "").lower()
        if not event or event in IGNORED_EVENTS:
            return []
        composite = "|".join([user, str(msg.CreateTime or ""), msg.Event or "", msg.EventKey or ""])
        if event == "subscribe":
            contract = FanFollowed(**common, platform_event_id=composite)
        elif event == "unsubscribe":
            contract = FanUnfollowed(**common, platform_event_id=composite)
        elif event in ("click", "scan"):
            contract = MessageReceived(
                **common, platform_event_id=composite, message_id=composite,
                message_type="event", text=msg.EventKey,
            )  # fmt: skip
        else:
            return []
        platform_id = composite
    else:
        if not msg.MsgId:
            return []
        platform_id = msg.MsgId
        kind = _message(msg)
        message_type, text, media = kind or ("other", None, ())
        contract = MessageReceived(
            **common, platform_event_id=platform_id, message_id=platform_id,
            message_type=message_type, text=text, media=media,
        )  # fmt: skip
    return [fan_event(contract, platform_id)]


# --- verification -----------------------------------------------------------------------------


def _params(query: Mapping[str, str], *names: str) -> list[str]:
    values = [query.get(name, "") for name in names]
    if not all(values):
        raise VerificationError("signature", f"{', '.join(names)} are required")
    if any(len(v) > MAX_ECHO * 4 for v in values):
        raise VerificationError("signature", "query parameter too long")
    return values


def open_sealed(*, token: str, crypt: MessageCrypt, query: Mapping[str, str], body: bytes) -> bytes:
    """Check ``msg_signature`` over the body's ``<Encrypt>`` and open it; raises
    VerificationError (an unreadable envelope cannot be verified, so it is refused as such)."""
    signature, timestamp, nonce = _params(query, "msg_signature", "timestamp", "nonce")
    try:
        envelope: Envelope = _model(Envelope, parse_xml(body))
    except MalformedPayload as exc:
        raise VerificationError("signature", f"no readable <Encrypt>: {exc}") from None
    expected = sha1_signature(token, timestamp, nonce, envelope.Encrypt)
    if not signature_matches(expected, signature):
        raise VerificationError("signature", "msg_signature does not match")
    try:
        return crypt.decrypt(envelope.Encrypt)
    except CryptoError as exc:
        raise VerificationError("signature", f"<Encrypt> does not open: {exc}") from None


def _crypt(encoding_aes_key: SecretStr, receive_id: str) -> MessageCrypt:
    try:
        return MessageCrypt(encoding_aes_key.get_secret_value(), receive_id)
    except ValueError:
        raise VerificationError("signature", "the account's EncodingAESKey is invalid") from None


def _text_answer(text: bytes) -> PlatformAnswer:
    return PlatformAnswer(body=text, media_type="text/plain")


def check_fresh(timestamp: str, *, now: datetime, tolerance: float) -> None:
    """Refuse a ``timestamp`` (seconds) further than ``tolerance`` from ``now``: VerificationError
    "stale_timestamp"; one that is not seconds since the epoch is refused as "signature"."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise VerificationError("signature", "timestamp is not seconds since the epoch")
    if abs(now.timestamp() - int(timestamp)) > tolerance:
        raise VerificationError("stale_timestamp", "timestamp outside the tolerance")


# --- sending ----------------------------------------------------------------------------------


@dataclass
class _Token:
    value: str
    expires_at: float


TokenFetch = Callable[[bool], Awaitable[tuple[str, float] | SendOutcome]]
"""Fetch a token (its value and lifetime in seconds), the argument saying whether to force a
refresh; or the outcome of a failed fetch."""


class _AccessTokens:
    """Access tokens per (account, base URL), fetched once under a lock per account and
    refreshed five minutes before they expire or when the platform says they are invalid."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def drop(self, key: tuple[str, str], value: str) -> None:
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]

    def _cached(self, key: tuple[str, str], refused: str | None) -> str | None:
        cached = self._tokens.get(key)
        if cached is None or cached.expires_at <= self._clock() or cached.value == refused:
            return None
        return cached.value

    async def get(
        self, key: tuple[str, str], fetch: TokenFetch, *, refused: str | None = None,
        can_force: bool = False,
    ) -> str | SendOutcome:  # fmt: skip
        """The cached token, else a fetched one (normal mode). ``refused``: a token the platform
        has just refused, never returned from the cache; when a normal fetch hands it back again
        and ``can_force``, one forced refresh replaces it. Under the lock, so that callers refused
        the same token at once force at most one refresh."""
        cached = self._cached(key, refused)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cached(key, refused)
            if cached is not None:
                return cached
            fetched = await fetch(False)
            if isinstance(fetched, SendOutcome):
                return fetched
            if can_force and refused is not None and fetched[0] == refused:
                fetched = await fetch(True)
                if isinstance(fetched, SendOutcome):
                    return fetched
            value, expires_in = fetched
            self._tokens[key] = _Token(
                value, self._clock() + max(expires_in - TOKEN_REFRESH_EARLY, 0.0)
            )
            return value


def _errcode_outcome(status: int, payload: Mapping[str, Any], what: str) -> SendOutcome:
    code = payload.get("errcode")
    message = str(payload.get("errmsg", ""))[:300]
    return SendOutcome(
        delivered=False, status_code=status, error=f"{what}: errcode {code} {message}".strip(),
        retryable=code in BUSY,
    )  # fmt: skip


def _http_failure(response: httpx.Response, what: str) -> SendOutcome | None:
    """An outcome for a non-200 answer (retryable for 429/5xx), else None."""
    status = response.status_code
    if status == 200:
        return None
    payload = _json(response)
    detail = (
        f" errcode {payload.get('errcode')} {str(payload.get('errmsg', ''))[:300]}"
        if payload and "errcode" in payload
        else ""
    )
    return SendOutcome(
        delivered=False, status_code=status, error=f"{what}: HTTP {status}{detail}".strip(),
        retryable=retryable_status(status),
    )  # fmt: skip


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _errcode(payload: Mapping[str, Any]) -> int:
    code = payload.get("errcode", 0)
    return code if isinstance(code, int) else -2


class _TencentSender:
    """The send half both platforms share: fetch/cache an access token, POST the message, on
    an invalid-token errcode drop the token, fetch one again and try once more."""

    token_path: ClassVar[str]
    send_path: ClassVar[str]
    can_force_refresh: ClassVar[bool] = False  # the token API has a forced-refresh mode

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens = _AccessTokens(clock)

    def _credentials(self, account: Any) -> dict[str, str] | None:
        """What the token API needs; None if the account has no secret for sending."""
        raise NotImplementedError

    def _request_token(
        self, http: httpx.AsyncClient, url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> Awaitable[httpx.Response]:  # fmt: skip
        raise NotImplementedError

    def _message(self, account: Any, reply: ReplyRequested) -> dict[str, Any] | SendOutcome:
        raise NotImplementedError

    async def _fetch_token(
        self, http: httpx.AsyncClient, base_url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> tuple[str, float] | SendOutcome:  # fmt: skip
        url = f"{base_url.rstrip('/')}{self.token_path}"
        response = await self._request_token(http, url, credentials, force_refresh=force_refresh)
        failed = _http_failure(response, "access token")
        if failed is not None:
            return failed
        payload = _json(response)
        if payload is None:
            return SendOutcome(delivered=False, status_code=200, retryable=True,
                               error="access token: the answer is not a JSON object")  # fmt: skip
        if _errcode(payload) != 0:
            return _errcode_outcome(200, payload, "access token")
        token, expires_in = payload.get("access_token"), payload.get("expires_in", 7200)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            return SendOutcome(delivered=False, status_code=200, retryable=True,
                               error="access token: no access_token in the answer")  # fmt: skip
        return token, float(expires_in)

    async def send(
        self, account: Any, reply: ReplyRequested, *, http: httpx.AsyncClient, base_url: str
    ) -> SendOutcome:
        credentials = self._credentials(account)
        if credentials is None:
            return not_sent("the account has no secret for sending")
        message = self._message(account, reply)
        if isinstance(message, SendOutcome):
            return message
        key = (account.account_id, base_url)

        def fetch(force_refresh: bool) -> Awaitable[tuple[str, float] | SendOutcome]:
            return self._fetch_token(http, base_url, credentials, force_refresh=force_refresh)

        refused: str | None = None
        for attempt in (1, 2):
            token = await self._tokens.get(
                key, fetch, refused=refused, can_force=self.can_force_refresh
            )
            if isinstance(token, SendOutcome):
                return token
            response = await http.post(
                f"{base_url.rstrip('/')}{self.send_path}", params={"access_token": token},
                json=message,
            )  # fmt: skip
            failed = _http_failure(response, "send")
            if failed is not None:
                return failed
            payload = _json(response)
            if payload is None:
                return SendOutcome(delivered=False, status_code=200, retryable=True,
                                   error="send: the answer is not a JSON object")  # fmt: skip
            code = _errcode(payload)
            if code == 0:
                msgid = payload.get("msgid")
                return SendOutcome(
                    delivered=True, status_code=200,
                    platform_message_id=str(msgid)[:MAX_ID] if msgid else None,
                )  # fmt: skip
            if code in TOKEN_INVALID and attempt == 1:
                self._tokens.drop(key, token)
                refused = token
                continue
            outcome = _errcode_outcome(200, payload, "send")
            if code in TOKEN_INVALID:  # a fresh token refused too: try again later
                self._tokens.drop(key, token)
                return SendOutcome(delivered=False, status_code=200, error=outcome.error,
                                   retryable=True)  # fmt: skip
            return outcome
        raise AssertionError("unreachable")  # pragma: no cover


# --- the adapters -----------------------------------------------------------------------------


class WeChatOfficialAccount(_TencentSender):
    """Access tokens come from ``POST /cgi-bin/stable_token`` (getStableAccessToken), the
    AppSecret in the JSON body. Normal mode (``force_refresh: false``) returns the token still
    valid, the same to every replica; a forced refresh invalidates it for all of them, so it is
    only asked for when a normal fetch hands back the very token the send API just refused."""

    platforms: ClassVar[tuple[str, ...]] = ("wechat",)
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    secret_query: ClassVar[frozenset[str]] = frozenset({"signature", "msg_signature"})
    account_model: ClassVar[type[PlatformAccount]] = WeChatAccount
    default_send_base_url: ClassVar[str] = "https://api.weixin.qq.com"
    token_path: ClassVar[str] = "/cgi-bin/stable_token"  # noqa: S105 (a path)
    send_path: ClassVar[str] = "/cgi-bin/message/custom/send"
    can_force_refresh: ClassVar[bool] = True

    def __init__(
        self, settings: IngestSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(clock)
        self._tolerance = (
            float(settings.webhook_tolerance_seconds) if settings is not None else DEFAULT_TOLERANCE
        )

    def handshake(self, account: WeChatAccount, request: InboundRequest) -> PlatformAnswer:
        self._check_plain_signature(account, request.query)
        echostr = request.query.get("echostr", "")
        if not echostr or len(echostr) > MAX_ECHO:
            raise VerificationError("signature", "echostr is required")
        return _text_answer(echostr.encode())

    def verify(self, account: WeChatAccount, request: InboundRequest) -> bytes:
        return self._open(account, request)

    def normalise(
        self, account: WeChatAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        msg: PushedXml = _model(PushedXml, parse_xml(request.body))
        return normalise_push(msg, platform="wechat", account=account.account_id,
                              request=request)  # fmt: skip

    def acknowledge(
        self, account: WeChatAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        return ACK

    def _check_plain_signature(self, account: WeChatAccount, query: Mapping[str, str]) -> None:
        signature, timestamp, nonce = _params(query, "signature", "timestamp", "nonce")
        expected = sha1_signature(account.token.get_secret_value(), timestamp, nonce)
        if not signature_matches(expected, signature):
            raise VerificationError("signature", "signature does not match")

    def _open(self, account: WeChatAccount, request: InboundRequest) -> bytes:
        """The push's message XML: the opened ``<Encrypt>`` in safe/compatible mode, else the
        body as received (plain mode, refused for accounts that have an EncodingAESKey)."""
        if request.query.get("encrypt_type", "raw").lower() == "aes":
            if account.encoding_aes_key is None:
                raise VerificationError("signature", "encrypted push, but no EncodingAESKey")
            return open_sealed(
                token=account.token.get_secret_value(),
                crypt=_crypt(account.encoding_aes_key, account.app_id),
                query=request.query, body=request.body,
            )  # fmt: skip
        if account.encoding_aes_key is not None:
            raise VerificationError("signature", "this account only accepts encrypted pushes")
        self._check_plain_signature(account, request.query)
        # The signature does not cover the body: only a fresh one is worth anything.
        check_fresh(request.query["timestamp"], now=request.received_at, tolerance=self._tolerance)
        return request.body

    def _credentials(self, account: WeChatAccount) -> dict[str, str] | None:
        if account.app_secret is None:
            return None
        return {"grant_type": "client_credential", "appid": account.app_id,
                "secret": account.app_secret.get_secret_value()}  # fmt: skip

    def _request_token(
        self, http: httpx.AsyncClient, url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> Awaitable[httpx.Response]:  # fmt: skip
        return http.post(url, json={**credentials, "force_refresh": force_refresh})

    def _message(
        self, account: WeChatAccount, reply: ReplyRequested
    ) -> dict[str, Any] | SendOutcome:
        return {"touser": reply.user_id, "msgtype": "text", "text": {"content": reply.text}}


class WeCom(_TencentSender):
    """Access tokens come from ``GET /cgi-bin/gettoken?corpid=…&corpsecret=…``: the corpsecret
    is a query parameter by WeCom's design (the API has no other form), so the URL must not be
    logged. ``gettoken`` has no forced-refresh mode."""

    platforms: ClassVar[tuple[str, ...]] = ("wecom",)
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    secret_query: ClassVar[frozenset[str]] = frozenset({"msg_signature"})
    account_model: ClassVar[type[PlatformAccount]] = WeComAccount
    default_send_base_url: ClassVar[str] = "https://qyapi.weixin.qq.com"
    token_path: ClassVar[str] = "/cgi-bin/gettoken"  # noqa: S105 (a path)
    send_path: ClassVar[str] = "/cgi-bin/message/send"

    def __init__(
        self, settings: IngestSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(clock)

    def handshake(self, account: WeComAccount, request: InboundRequest) -> PlatformAnswer:
        signature, timestamp, nonce, echostr = _params(
            request.query, "msg_signature", "timestamp", "nonce", "echostr"
        )
        expected = sha1_signature(account.token.get_secret_value(), timestamp, nonce, echostr)
        if not signature_matches(expected, signature):
            raise VerificationError("signature", "msg_signature does not match")
        try:
            plain = _crypt(account.encoding_aes_key, account.corp_id).decrypt(echostr)
        except CryptoError as exc:
            raise VerificationError("signature", f"echostr does not open: {exc}") from None
        if len(plain) > MAX_ECHO:
            raise VerificationError("signature", "echostr too long")
        return _text_answer(plain)

    def verify(self, account: WeComAccount, request: InboundRequest) -> bytes:
        return self._open(account, request)

    def normalise(
        self, account: WeComAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        msg: PushedXml = _model(PushedXml, parse_xml(request.body))
        return normalise_push(msg, platform="wecom", account=account.account_id,
                              request=request, thread_ref=msg.AgentID)  # fmt: skip

    def acknowledge(
        self, account: WeComAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        return _text_answer(b"")  # WeCom: an empty answer means "received, no passive reply"

    def _open(self, account: WeComAccount, request: InboundRequest) -> bytes:
        return open_sealed(
            token=account.token.get_secret_value(),
            crypt=_crypt(account.encoding_aes_key, account.corp_id),
            query=request.query, body=request.body,
        )  # fmt: skip

    def _credentials(self, account: WeComAccount) -> dict[str, str] | None:
        if account.corp_secret is None:
            return None
        return {"corpid": account.corp_id, "corpsecret": account.corp_secret.get_secret_value()}

    def _request_token(
        self, http: httpx.AsyncClient, url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> Awaitable[httpx.Response]:  # fmt: skip
        return http.get(url, params=credentials)

    def _message(
        self, account: WeComAccount, reply: ReplyRequested
    ) -> dict[str, Any] | SendOutcome:
        if account.agent_id is None:
            return not_sent("the account has no agent_id to send from")
        return {"touser": reply.user_id, "msgtype": "text", "agentid": account.agent_id,
                "text": {"content": reply.text}}  # fmt: skip
