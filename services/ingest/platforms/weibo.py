"""Weibo fan service platform (粉丝服务平台) developer mode
(https://open.weibo.com/wiki/粉丝服务平台开发者模式).

URL verification is a GET with ``signature``, ``timestamp``, ``nonce`` and ``echostr``; the
signature is the hex SHA-1 of the app secret, timestamp and nonce sorted and concatenated, and
the answer is ``echostr``. Pushes are POSTs carrying the same three query parameters; the JSON
body itself is not signed, so the timestamp must be recent, and a signature carries only the body
it first came with (``signed_without_body``: the intake remembers it). Weibo gives no message id:
an event's id is a composite of sender, type, creation time and a digest of the content, the same
for a retry.
Replies go out through ``/2/messages/reply.json`` (form-encoded, ``data`` a URL-encoded JSON)."""

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Final, Literal

import httpx
from pydantic import ConfigDict, Field, SecretStr

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    FixedAcknowledgement,
    InboundRequest,
    MalformedPayload,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
    echo,
)
from services.ingest.platforms.common import (
    MAX_EPOCH_MS,
    MS_THRESHOLD,
    Id,
    MessageBody,
    Payload,
    Short,
    Text,
    fan_event,
    from_millis,
    from_seconds,
    json_object,
    malformed_on_invalid,
    not_sent,
    parse_json,
    redact,
    retryable_status,
)
from shared.contracts import (
    CommentCreated,
    FanEvent,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MediaRef,
    MessageReceived,
    ReplyRequested,
)
from shared.events import CloudEvent

PLATFORM: Final = "weibo"
CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Mon Jul 16 18:09:20 +0800 2012"
RATE_LIMITED = frozenset({10023, 10024})  # user / IP request-frequency limits
FOLLOW = frozenset({"follow", "subscribe", "scan_follow"})
UNFOLLOW = frozenset({"unfollow", "unsubscribe"})
MEDIA_KINDS: dict[str, Literal["image", "voice"]] = {"image": "image", "voice": "voice"}
ERROR_CHARS = 500
# Weibo's echostr is a short random string that its signature does not cover: echo no more.
MAX_ECHO = 128


class WeiboAccount(PlatformAccount):
    platform: Literal["weibo"]
    app_secret: SecretStr
    access_token: SecretStr | None = None


class _Payload(Payload):
    model_config = ConfigDict(coerce_numbers_to_str=True)  # Weibo sends some ids as numbers


class PushData(_Payload):
    subtype: Annotated[str, Field(max_length=64)] | None = None
    key: Short | None = None
    vfid: Id | None = None
    tovfid: Id | None = None
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    id: Id | None = None
    mid: Id | None = None
    comment_id: Id | None = None
    status_id: Id | None = None


class Push(_Payload):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    receiver_id: Id | None = None
    sender_id: Id
    created_at: Annotated[str, Field(max_length=64)] | None = None
    text: Text | None = None
    data: PushData | None = None


def weibo_signature(app_secret: str, timestamp: str, nonce: str) -> str:
    """Hex SHA-1 of the app secret, timestamp and nonce, sorted and joined."""
    joined = "".join(sorted([app_secret, timestamp, nonce]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def verify_weibo_query(
    app_secret: str, query: Mapping[str, str], *, now: datetime, tolerance: timedelta
) -> None:
    signature, timestamp, nonce = (query.get(k, "") for k in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise VerificationError("signature", "signature, timestamp and nonce are required")
    expected = weibo_signature(app_secret, timestamp, nonce).encode()
    if not hmac.compare_digest(signature.lower().encode("utf-8", "replace"), expected):
        raise VerificationError("signature", "the signature does not match")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise VerificationError("signature", "timestamp is not an integer")
    sent_at = int(timestamp)
    sent_at = sent_at // 1000 if sent_at >= MS_THRESHOLD else sent_at
    if abs(now.timestamp() - sent_at) > tolerance.total_seconds():
        raise VerificationError("stale_timestamp", "timestamp outside the tolerance")


def parse_created_at(value: str) -> datetime:
    """Weibo's ``created_at``: the classic ``Mon Jul 16 18:09:20 +0800 2012``, or epoch ms."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        number = int(text) if len(text) <= 16 else MAX_EPOCH_MS + 1
        if number > MAX_EPOCH_MS:
            raise MalformedPayload("created_at is out of range")
        return from_millis(number) if number >= MS_THRESHOLD else from_seconds(number)
    try:
        return datetime.strptime(text, CREATED_AT_FORMAT).astimezone(UTC)
    except (ValueError, OverflowError):
        raise MalformedPayload("created_at is neither a Weibo date nor epoch ms") from None


def _geo(data: PushData) -> str | None:
    if data.latitude is None or data.longitude is None:
        return None
    return f"geo:{data.latitude},{data.longitude}"


def composite_id(push: Push) -> str:
    """Weibo sends no message id; a retry repeats the same body, hence the same fields."""
    data = push.data.model_dump(exclude_none=True) if push.data else {}
    content = json.dumps([push.text, data], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(content.encode()).hexdigest()[:32]
    return f"{push.sender_id}:{push.type}:{push.created_at or '-'}:{digest}"


def normalise_push(
    push: Push, *, account: str, received_at: datetime
) -> CloudEvent[FanEvent] | None:
    occurred_at = parse_created_at(push.created_at) if push.created_at else received_at
    platform_id = composite_id(push)
    fields: FanFields = {
        "platform": PLATFORM, "account": account, "user_id": push.sender_id,
        "occurred_at": occurred_at, "platform_event_id": platform_id,
    }  # fmt: skip
    contract = _contract(push, fields, platform_id)
    return fan_event(contract, platform_id) if contract is not None else None


def _contract(push: Push, fields: FanFields, platform_id: str) -> FanEvent | None:
    data = push.data or PushData()
    if push.type == "event":
        return _subscription_event(data, fields, platform_id)
    if push.type == "mention":
        return _mention(push, data, fields, platform_id)
    return _message(fields, platform_id, _message_body(push, data))


def _message_body(push: Push, data: PushData) -> MessageBody:
    kind = push.type
    if kind == "text":
        return MessageBody("text", push.text)
    if kind in MEDIA_KINDS:
        media_kind = MEDIA_KINDS[kind]
        media = MediaRef(kind=media_kind, platform_media_id=data.vfid or data.tovfid)
        return MessageBody(media_kind, push.text, (media,))
    if kind == "position":
        return MessageBody("location", push.text, (MediaRef(kind="location", url=_geo(data)),))
    return MessageBody("other", push.text)


def _message(fields: FanFields, platform_id: str, body: MessageBody) -> MessageReceived:
    """A private message: the conversation with the sender is its thread."""
    in_thread: FanFields = {**fields, "thread_ref": fields["user_id"]}
    return MessageReceived(
        **in_thread, message_id=platform_id, message_type=body.message_type, text=body.text,
        media=body.media,
    )  # fmt: skip


def _subscription_event(data: PushData, fields: FanFields, platform_id: str) -> FanEvent | None:
    subtype = data.subtype or ""
    if subtype in FOLLOW:
        return FanFollowed(**fields)
    if subtype in UNFOLLOW:
        return FanUnfollowed(**fields)
    if subtype == "click":
        return _message(fields, platform_id, MessageBody("event", data.key))
    return None  # scan (already a fan), menu views…


def _mention(push: Push, data: PushData, fields: FanFields, platform_id: str) -> CommentCreated:
    if data.subtype == "comment":
        post_id, comment_id = data.mid or data.status_id, data.comment_id or data.id
    else:  # a status mentioning the account: the status is both the post and the "comment"
        post_id = comment_id = data.mid or data.status_id or data.id
    in_thread: FanFields = {**fields, "thread_ref": post_id}
    return CommentCreated(
        **in_thread, comment_id=comment_id or platform_id, post_id=post_id, text=push.text,
        is_mention=True,
    )  # fmt: skip


class WeiboFanService(FixedAcknowledgement):
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    secret_query: ClassVar[frozenset[str]] = frozenset({"signature"})
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = WeiboAccount
    default_send_base_url: ClassVar[str] = "https://m.api.weibo.com"

    def __init__(self, settings: IngestSettings) -> None:
        self._tolerance = timedelta(seconds=settings.webhook_tolerance_seconds)

    def _verify(self, account: WeiboAccount, request: InboundRequest) -> None:
        verify_weibo_query(
            account.app_secret.get_secret_value(), request.query,
            now=request.received_at, tolerance=self._tolerance,
        )  # fmt: skip

    def handshake(self, account: WeiboAccount, request: InboundRequest) -> PlatformAnswer:
        self._verify(account, request)
        echostr = request.query.get("echostr", "")
        if not echostr or len(echostr) > MAX_ECHO:
            raise VerificationError("signature", "echostr is missing or too long")
        return echo(echostr.encode("utf-8", "replace"))

    def verify(self, account: WeiboAccount, request: InboundRequest) -> None:
        self._verify(account, request)

    def signed_without_body(self, account: WeiboAccount, request: InboundRequest) -> str:
        """Weibo signs the app secret, timestamp and nonce only, URL check and push alike."""
        timestamp, nonce = request.query.get("timestamp", ""), request.query.get("nonce", "")
        return weibo_signature(account.app_secret.get_secret_value(), timestamp, nonce)

    def normalise(
        self, account: WeiboAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        push = parse_json(Push, request.body)
        with malformed_on_invalid():  # an event the contract refuses: 400
            event = normalise_push(
                push, account=account.account_id, received_at=request.received_at
            )
        return [event] if event is not None else []

    async def send(
        self, account: WeiboAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One reply through the fan service message API (Weibo has no idempotency key)."""
        if account.access_token is None:
            return not_sent("the Weibo account has no access token")
        token = account.access_token.get_secret_value()
        data = urllib.parse.quote(json.dumps({"text": reply.text}, ensure_ascii=False))
        response = await http.post(
            f"{base_url.rstrip('/')}/2/messages/reply.json",
            data={
                "access_token": token, "type": "text", "data": data,
                "receiver_id": reply.user_id, "save_sender_box": "1",
            },
        )  # fmt: skip
        status = response.status_code
        body = json_object(response)
        code = body.get("error_code")
        if status == 200 and code in (None, 0, "0"):
            message_id = body.get("id")
            return SendOutcome(
                delivered=True, status_code=status,
                platform_message_id=str(message_id)[:200] if message_id is not None else None,
            )  # fmt: skip
        retryable = retryable_status(status) or _int(code) in RATE_LIMITED
        error = f"{code if code is not None else status}: {body.get('error') or f'HTTP {status}'}"
        return SendOutcome(
            delivered=False, status_code=status, retryable=retryable,
            error=redact(error, token)[:ERROR_CHARS],
        )  # fmt: skip


def _int(value: str | float | None) -> int | None:
    """An error code as an integer; None when it is absent or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # TypeError: a list or object from the JSON
        return None
