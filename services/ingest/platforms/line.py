"""LINE Messaging API webhooks (https://developers.line.biz/en/reference/messaging-api/#webhooks).

No GET handshake: the console's "Verify" button POSTs a signed body with an empty ``events``
list, or (as it long did) dummy events from user ``Udeadbeef…`` with reply tokens of all ``0``
or all ``f``, which produce nothing. Signature: ``X-Line-Signature: <base64 HMAC-SHA256 of the
raw body with the channel secret>``. A body batches events: messages, follows, unfollows and
postbacks become canonical events; the rest (read receipts, joins, beacons, unsend…) are not
used. A group or room message carries ``userId`` only for some senders; without one there is no
fan to attribute it to (the group as the fan would merge everyone in it into one profile), so it
is dropped, counted in ``scrm_ingest_dropped_events_total{reason="no_sender"}`` and logged at
debug. Replies go out through the push API with ``X-Line-Retry-Key`` as the idempotency key.

The envelope (``destination`` and the ``events`` list) must be readable, or the body is refused
(400). Each event is then read on its own: one that cannot be read is skipped (a warning with the
account and the validation errors, never the payload) and the others become events, since LINE
redelivers the identical body and a 400 would lose the good events in it for good. Only when
every event of a non-empty batch is unreadable is the body refused."""

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import httpx
from pydantic import Field, SecretStr, TypeAdapter

from services.ingest import metrics
from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    FixedAcknowledgement,
    InboundRequest,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
    no_handshake,
)
from services.ingest.platforms.common import (
    MAX_EPOCH_MS,
    BatchItems,
    Id,
    MessageBody,
    Payload,
    Text,
    fan_event,
    from_millis,
    json_object,
    not_sent,
    parse_json,
    retryable_status,
)
from shared.contracts import (
    FanEvent,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MediaRef,
    MessageReceived,
    ReplyRequested,
)
from shared.events import CloudEvent
from shared.logging import get_logger

PLATFORM: Final = "line"
log = get_logger(__name__)
SIGNATURE_HEADER = "x-line-signature"
# Retry keys are UUIDs; the same reply id always gives the same key, so a resend is recognised.
RETRY_KEY_NAMESPACE = uuid.UUID("0b6f3f4e-2c1a-5d8e-9f70-1e2d3c4b5a69")
ERROR_CHARS = 500
USED_EVENTS = frozenset({"message", "postback", "follow", "unfollow"})
# What the console's "Verify" button sends in place of a fan's events.
VERIFY_USER = "Udeadbeefdeadbeefdeadbeefdeadbeef"
VERIFY_REPLY_TOKENS = frozenset({"0" * 32, "f" * 32})


Short = Annotated[str, Field(max_length=1000)]  # LINE's own bound, tighter than common.Short
Kind = Annotated[str, Field(max_length=64)]


class LineAccount(PlatformAccount):
    platform: Literal["line"]
    channel_secret: SecretStr
    channel_access_token: SecretStr | None = None


class Source(Payload):
    type: Kind
    userId: Id | None = None
    groupId: Id | None = None
    roomId: Id | None = None


class ContentProvider(Payload):
    type: Kind
    originalContentUrl: Short | None = None


class Message(Payload):
    id: Id
    type: Kind
    text: Text | None = None
    contentProvider: ContentProvider | None = None
    fileName: Short | None = None
    title: Short | None = None
    address: Short | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    packageId: Id | None = None
    stickerId: Id | None = None


class Postback(Payload):
    data: Text


class Event(Payload):
    type: Kind
    mode: Kind | None = None
    timestamp: int | None = Field(default=None, ge=0, le=MAX_EPOCH_MS)
    source: Source | None = None
    replyToken: Short | None = None
    webhookEventId: Id | None = None
    message: Message | None = None
    postback: Postback | None = None


class LineWebhook(Payload):
    """What must be readable for a body to be accepted at all; the events are read one by one."""

    destination: Short | None = None
    events: list[object] = Field(max_length=1000)  # each read by EVENT, a bad one skipped


EVENT = TypeAdapter(Event)


def line_signature(channel_secret: str, body: bytes) -> str:
    """``X-Line-Signature``: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_line_signature(channel_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    signature = headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise VerificationError("signature", "X-Line-Signature is required")
    expected = line_signature(channel_secret, body).encode()
    if not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
        raise VerificationError("signature", "X-Line-Signature does not match the body")


def retry_key(reply_id: str) -> str:
    """LINE's idempotency key for one reply: a UUID derived from the reply id."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, reply_id))


def _time(event: Event, fallback: datetime) -> datetime:
    if event.timestamp is None:
        return fallback
    return from_millis(event.timestamp)  # LINE's timestamps are epoch milliseconds


_MEDIA_TYPES: dict[str, Literal["image", "voice", "video", "file"]] = {
    "image": "image", "video": "video", "audio": "voice", "file": "file",
}  # fmt: skip


def _message_body(message: Message) -> MessageBody:
    kind = message.type
    if kind == "text":
        return MessageBody("text", message.text)
    if kind in _MEDIA_TYPES:
        media_kind = _MEDIA_TYPES[kind]
        provider = message.contentProvider
        url = provider.originalContentUrl if provider and provider.type == "external" else None
        media = MediaRef(kind=media_kind, platform_media_id=message.id, url=url)
        return MessageBody(media_kind, message.fileName, (media,))
    if kind == "location":
        return MessageBody(
            "location", _place(message), (MediaRef(kind="location", url=_geo(message)),)
        )
    if kind == "sticker":
        sticker = f"{message.packageId or ''}/{message.stickerId or ''}"
        return MessageBody("sticker", media=(MediaRef(kind="sticker", platform_media_id=sticker),))
    return MessageBody("other", message.text)


def _geo(message: Message) -> str | None:
    if message.latitude is None or message.longitude is None:
        return None
    return f"geo:{message.latitude},{message.longitude}"


def _place(message: Message) -> str | None:
    return " ".join(part for part in (message.title, message.address) if part) or None


def normalise_event(
    event: Event, *, account: str, received_at: datetime
) -> CloudEvent[FanEvent] | None:
    source = event.source
    if event.type not in USED_EVENTS:
        return None
    if _verification_dummy(event):
        metrics.dropped_event(PLATFORM, "verification").inc()
        return None
    if source is None or source.userId is None:
        metrics.dropped_event(PLATFORM, "no_sender").inc()
        log.debug("LINE event without a userId dropped", account=account, event_type=event.type,
                  source_type=source.type if source else None)  # fmt: skip
        return None
    user_id = source.userId
    platform_id = _platform_id(event, user_id)
    fields: FanFields = {
        "platform": PLATFORM, "account": account, "user_id": user_id,
        "occurred_at": _time(event, received_at), "platform_event_id": platform_id,
        "thread_ref": source.groupId or source.roomId or user_id,
    }  # fmt: skip
    contract = _contract(event, fields, platform_id)
    return fan_event(contract, platform_id) if contract is not None else None


def _verification_dummy(event: Event) -> bool:
    user = event.source.userId if event.source else None
    return user == VERIFY_USER or event.replyToken in VERIFY_REPLY_TOKENS


def _platform_id(event: Event, user_id: str) -> str:
    if event.webhookEventId:
        return event.webhookEventId
    if event.type == "message" and event.message is not None:
        return event.message.id
    return _composite(user_id, event)


def _contract(event: Event, fields: FanFields, platform_id: str) -> FanEvent | None:
    if event.type == "message" and event.message is not None:
        body = _message_body(event.message)
        return MessageReceived(
            **fields, message_id=event.message.id, message_type=body.message_type,
            text=body.text, media=body.media,
        )  # fmt: skip
    if event.type == "postback" and event.postback is not None:
        return MessageReceived(
            **fields, message_id=platform_id, message_type="event", text=event.postback.data
        )
    if event.type == "follow":
        return FanFollowed(**fields)
    if event.type == "unfollow":
        return FanUnfollowed(**fields)
    return None


def _composite(user_id: str, event: Event) -> str:
    return f"{user_id}:{event.type}:{event.timestamp if event.timestamp is not None else '-'}"


class LineMessaging(FixedAcknowledgement):
    secret_headers: ClassVar[frozenset[str]] = frozenset({SIGNATURE_HEADER})
    secret_query: ClassVar[frozenset[str]] = frozenset()
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = LineAccount
    default_send_base_url: ClassVar[str] = "https://api.line.me"

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings

    def handshake(self, account: LineAccount, request: InboundRequest) -> PlatformAnswer:
        return no_handshake(request)

    def verify(self, account: LineAccount, request: InboundRequest) -> None:
        verify_line_signature(
            account.channel_secret.get_secret_value(), request.headers, request.body
        )

    def normalise(
        self, account: LineAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        payload = parse_json(LineWebhook, request.body)
        batch = BatchItems(PLATFORM, account.account_id)
        for index, raw in enumerate(payload.events):
            with batch.item(f"events.{index}"):
                batch.add(normalise_event(
                    EVENT.validate_python(raw), account=account.account_id,
                    received_at=request.received_at,
                ))  # fmt: skip
        return batch.events_or_refusal()

    async def send(
        self, account: LineAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One push message; ``X-Line-Retry-Key`` makes a resend of the same reply a no-op."""
        if account.channel_access_token is None:
            return not_sent("the LINE account has no channel access token")
        response = await http.post(
            f"{base_url.rstrip('/')}/v2/bot/message/push",
            headers={
                "Authorization": f"Bearer {account.channel_access_token.get_secret_value()}",
                "X-Line-Retry-Key": retry_key(reply.reply_id),
            },
            json={"to": reply.user_id, "messages": [{"type": "text", "text": reply.text}]},
        )
        status = response.status_code
        body = json_object(response)
        if status == 200 or status == 409:  # 409: this retry key was accepted before
            message_id = _sent_message_id(body)
            if status == 409:
                message_id = response.headers.get("x-line-accepted-request-id") or message_id
            return SendOutcome(delivered=True, status_code=status, platform_message_id=message_id)
        return SendOutcome(
            delivered=False, status_code=status, error=_error_text(status, body),
            retryable=retryable_status(status),
        )  # fmt: skip


def _sent_message_id(body: dict[str, Any]) -> str | None:
    sent = body.get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict):
        message_id = sent[0].get("id")
        return str(message_id)[:200] if message_id is not None else None
    return None


def _error_text(status: int, body: dict[str, Any]) -> str:
    message = str(body.get("message") or f"HTTP {status}")
    details = body.get("details")
    if isinstance(details, list) and details:
        parts = [
            f"{d.get('property', '')}: {d.get('message', '')}"
            for d in details
            if isinstance(d, dict)
        ]
        message = f"{message} ({'; '.join(parts)})"
    return message[:ERROR_CHARS]
