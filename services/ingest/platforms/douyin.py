"""Douyin Open Platform webhooks
(https://developer.open-douyin.com/docs/resource/zh-CN/dop/develop/webhooks/summarize).

Everything is a POST: the URL check is the event ``verify_webhook`` with ``content.challenge``,
answered with ``{"challenge": <the same value>}``. Signature: ``X-Douyin-Signature: <hex SHA-1 of
client_secret + raw body>`` (a plain hash, not an HMAC). ``content`` arrives as an object or as a
JSON string, depending on the event. Platform ids: the message or comment id, else the
``Msg-Id`` header (documented as the de-duplication key), else ``log_id``.

Follow events: the documentation names ``new_follow_action``; ``follow`` is accepted too, and
``unfollow`` / ``new_unfollow_action`` become FanUnfollowed (their names are not documented).

This adapter has no send API: replies to Douyin fans are not sent from here (``send`` is not
implemented, so the outbound worker records such replies as failed)."""

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, ClassVar, Final, Literal

from pydantic import Field, SecretStr, ValidationError

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    PlatformAccount,
    PlatformAnswer,
    VerificationError,
    no_handshake,
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
    malformed_on_invalid,
    parse_json,
    parse_object,
)
from shared.contracts import (
    CommentCreated,
    FanEvent,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MediaRef,
    MessageReceived,
    ReactionAdded,
)
from shared.events import CloudEvent, body_digest

PLATFORM: Final = "douyin"
SIGNATURE_HEADER = "x-douyin-signature"
MSG_ID_HEADER = "msg-id"
VERIFY_EVENT = "verify_webhook"
MESSAGE_EVENTS = frozenset({"im_receive_msg", "im_group_receive_msg"})
FOLLOW_EVENTS = frozenset({"new_follow_action", "follow"})
UNFOLLOW_EVENTS = frozenset({"unfollow", "new_unfollow_action"})
LIKE_EVENTS = frozenset({"new_video_digg"})
MEDIA_KINDS: dict[str, Literal["image", "video", "sticker"]] = {
    "image": "image", "video": "video", "emoji": "sticker",
}  # fmt: skip
ACK = PlatformAnswer(body=b"{}", media_type="application/json")

Epoch = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]


class DouyinAccount(PlatformAccount):
    platform: Literal["douyin"]
    client_secret: SecretStr


class Envelope(Payload):
    event: Annotated[str, Field(min_length=1, max_length=100)]
    from_user_id: Id | None = None
    to_user_id: Id | None = None
    client_key: Short | None = None
    content: dict[str, object] | Annotated[str, Field(max_length=1_000_000)] | None = None
    log_id: Id | None = None


class Challenge(Payload):
    challenge: int | Annotated[str, Field(max_length=200)]


class Content(Payload):
    message_type: Annotated[str, Field(max_length=64)] | None = None
    text: Text | None = None
    content: Text | None = None
    resource_url: Short | None = None
    item_id: Short | None = None
    conversation_short_id: Id | None = None
    server_message_id: Id | None = None
    comment_id: Id | None = None
    comment_user_id: Id | None = None
    reply_to_comment_id: Id | None = None
    create_time: Epoch | None = None
    action_time: Epoch | None = None
    action_type: int | None = None


def douyin_signature(client_secret: str, body: bytes) -> str:
    """``X-Douyin-Signature``: lowercase hex SHA-1 of the client secret followed by the body."""
    return hashlib.sha1(client_secret.encode() + body, usedforsecurity=False).hexdigest()


def verify_douyin_signature(client_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    signature = headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise VerificationError("signature", "X-Douyin-Signature is required")
    expected = douyin_signature(client_secret, body).encode()
    if not hmac.compare_digest(signature.strip().lower().encode("utf-8", "replace"), expected):
        raise VerificationError("signature", "X-Douyin-Signature does not match the body")


def parse(body: bytes) -> tuple[Envelope, dict[str, object]]:
    """The envelope and its content as an object (decoded when it came as a JSON string)."""
    envelope = parse_json(Envelope, body)
    content = envelope.content
    if isinstance(content, str):
        try:
            content = json.loads(content) if content.strip() else {}
        except (ValueError, RecursionError):
            raise MalformedPayload("content is a string but not JSON") from None
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise MalformedPayload("content is not an object")
    return envelope, content


def _content(raw: dict[str, object]) -> Content:
    return parse_object(Content, raw, prefix="content: ")


def _epoch(value: int) -> datetime:
    """Douyin's times: epoch seconds, or milliseconds from MS_THRESHOLD up."""
    return from_millis(value) if value >= MS_THRESHOLD else from_seconds(value)


def _text(content: Content) -> str | None:
    return content.text if content.text is not None else content.content


def _message_body(content: Content) -> MessageBody:
    kind = content.message_type or "other"
    if kind == "text":
        return MessageBody("text", _text(content))
    if kind in MEDIA_KINDS:
        media = MediaRef(
            kind=MEDIA_KINDS[kind], url=content.resource_url,
            platform_media_id=content.item_id if kind == "video" else None,
        )  # fmt: skip
        return MessageBody(MEDIA_KINDS[kind], _text(content), (media,))
    return MessageBody("other", _text(content))


def normalise_push(
    envelope: Envelope, raw_content: dict[str, object], *, account: str, request: InboundRequest
) -> CloudEvent[FanEvent] | None:
    kind = envelope.event
    if kind not in MESSAGE_EVENTS | FOLLOW_EVENTS | UNFOLLOW_EVENTS | LIKE_EVENTS and (
        "comment_id" not in raw_content
    ):
        return None  # verify_webhook, im_enter_direct_msg, im_send_msg, authorize, …
    content = _content(raw_content)
    user_id = (content.comment_user_id if content.comment_id else None) or envelope.from_user_id
    if not user_id:
        return None
    epoch = content.create_time if content.create_time is not None else content.action_time
    fallback = f"{user_id}:{kind}:{epoch}" if epoch is not None else body_digest(request.body)
    platform_id = _platform_id(envelope, content, request.headers, fallback)
    fields: FanFields = {
        "platform": PLATFORM, "account": account, "user_id": user_id,
        "occurred_at": _epoch(epoch) if epoch is not None else request.received_at,
        "platform_event_id": platform_id,
    }  # fmt: skip
    contract = _contract(kind, content, fields, platform_id)
    return fan_event(contract, platform_id) if contract is not None else None


def _platform_id(
    envelope: Envelope, content: Content, headers: Mapping[str, str], fallback: str
) -> str:
    """The message or comment id, else the delivery's ``Msg-Id`` header or ``log_id``, else
    ``fallback``."""
    own_id = content.server_message_id if envelope.event in MESSAGE_EVENTS else content.comment_id
    return own_id or headers.get(MSG_ID_HEADER, "")[:200] or envelope.log_id or fallback


def _contract(kind: str, content: Content, fields: FanFields, platform_id: str) -> FanEvent | None:
    if kind in MESSAGE_EVENTS:
        body = _message_body(content)
        in_thread: FanFields = {**fields, "thread_ref": content.conversation_short_id}
        return MessageReceived(
            **in_thread, message_id=platform_id, message_type=body.message_type,
            text=body.text, media=body.media,
        )  # fmt: skip
    if content.comment_id:
        on_post: FanFields = {**fields, "thread_ref": content.item_id}
        return CommentCreated(
            **on_post, comment_id=content.comment_id, post_id=content.item_id, text=_text(content)
        )
    if kind in LIKE_EVENTS:
        if not content.item_id:
            return None
        return ReactionAdded(**fields, target_id=content.item_id, reaction="like")
    follow = FanFollowed if kind in FOLLOW_EVENTS else FanUnfollowed
    return follow(**fields)


def challenge_answer(body: bytes) -> PlatformAnswer | None:
    """The answer to a ``verify_webhook`` push, or None when the body is not one."""
    try:
        envelope, content = parse(body)
        if envelope.event != VERIFY_EVENT:
            return None
        challenge = Challenge.model_validate(content).challenge
    except (MalformedPayload, ValidationError):
        return None
    return PlatformAnswer(
        body=json.dumps({"challenge": challenge}).encode(), media_type="application/json"
    )


class DouyinOpenPlatform:
    secret_headers: ClassVar[frozenset[str]] = frozenset({SIGNATURE_HEADER})
    secret_query: ClassVar[frozenset[str]] = frozenset()
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = DouyinAccount

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings

    def handshake(self, account: DouyinAccount, request: InboundRequest) -> PlatformAnswer:
        return no_handshake(request)  # Douyin's URL check is a POST (verify_webhook)

    def verify(self, account: DouyinAccount, request: InboundRequest) -> None:
        verify_douyin_signature(
            account.client_secret.get_secret_value(), request.headers, request.body
        )

    def normalise(
        self, account: DouyinAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        envelope, content = parse(request.body)
        if envelope.event == VERIFY_EVENT:
            try:
                Challenge.model_validate(content)
            except ValidationError as exc:
                raise MalformedPayload("verify_webhook without a challenge") from exc
            return []
        with malformed_on_invalid():  # an event the contract refuses: 400
            event = normalise_push(envelope, content, account=account.account_id, request=request)
        return [event] if event is not None else []

    def acknowledge(
        self, account: DouyinAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        if events:
            return ACK
        return challenge_answer(request.body) or ACK
