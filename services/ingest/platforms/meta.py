"""Meta's Graph API webhooks: Messenger (``object=page``), Instagram (``object=instagram``) and
the WhatsApp Cloud API (``object=whatsapp_business_account``), one adapter for all three.

Verification: the URL handshake is ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``
answered with the challenge verbatim; every push carries ``X-Hub-Signature-256: sha256=<hex
HMAC-SHA256(app_secret, raw body)>``. Meta escapes non-ASCII as ``\\uXXXX`` in the bytes it signs,
so the check is over ``request.body`` exactly as received, never over a re-serialisation.

A push is ``{"object": …, "entry": [{…, "messaging": […], "changes": […]}, …]}``: several entries
with several events each, all of which become events. The envelope (``object`` and the ``entry``
list) must be readable, or the push is refused (400). Each entry, messaging item, change and
WhatsApp message is then read on its own: one that cannot be read is skipped (a warning with the
platform, the account and the validation errors, never the payload) and the rest become events,
since Meta retries the identical body and a 400 would lose the good events in it for good. Only
when every item of a non-empty batch is unreadable is the push refused.

Attribution: Meta has one callback URL per app and object type, so every page, Instagram account
and WhatsApp phone number with the app installed delivers to the same URL, and one push may carry
entries for several of them. Without ``object_id`` on the account every entry is credited to the
account the webhook path names (one app per page or number). Set ``object_id`` (the page id, the
Instagram professional account id, the WhatsApp phone_number_id) whenever one app serves several
pages or numbers: entries for another object (``entry.id``; WhatsApp:
``changes[].value.metadata.phone_number_id``) are then skipped, not errors; they belong to another
configured account, whose own webhook URL the brand should use.
"""

import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    TypeAdapter,
)

from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
)
from services.ingest.platforms.common import (
    MAX_EPOCH_SECONDS,
    MS_THRESHOLD,
    BatchItems,
    CappedText,
    Payload,
    capped,
    fan_event,
    from_seconds,
    json_object,
    not_sent,
    parse_json,
    redact,
    retryable_status,
)
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    MediaRef,
    MessageReceived,
    ReactionAdded,
    ReplyRequested,
)
from shared.events import CloudEvent

MetaPlatform = Literal["messenger", "instagram", "whatsapp"]
PLATFORMS: tuple[MetaPlatform, ...] = ("messenger", "instagram", "whatsapp")
OBJECTS: Mapping[str, str] = {
    "messenger": "page", "instagram": "instagram", "whatsapp": "whatsapp_business_account",
}  # fmt: skip
SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="
GRAPH_VERSION = "v21.0"
ACKNOWLEDGEMENT = b"EVENT_RECEIVED"
MAX_CHALLENGE = 1024
# Graph API error codes that mean "busy, throttled or temporarily down", even under HTTP 400.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131048, 131056})


class MetaAccount(PlatformAccount):
    """A Facebook page, an Instagram professional account or a WhatsApp phone number id."""

    platform: MetaPlatform
    app_secret: SecretStr
    verify_token: SecretStr
    access_token: SecretStr | None = None  # page access token / WhatsApp system-user token
    # The Meta object this account is: the Page id (messenger), the Instagram professional
    # account id (instagram), the WhatsApp phone_number_id (whatsapp). Set it when one app
    # serves several of them: entries for other objects are then skipped. None: every entry of a
    # push is credited to this account.
    object_id: str | None = None


def meta_signature(app_secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(app_secret, body)>``, the value of X-Hub-Signature-256."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_meta_signature(*, app_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Check X-Hub-Signature-256 over the exact bytes received (constant-time)."""
    header = headers.get(SIGNATURE_HEADER, "").strip()
    if not header:
        raise VerificationError("signature", "X-Hub-Signature-256 is required")
    if not header[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        raise VerificationError("signature", "X-Hub-Signature-256 is not sha256=<hex>")
    candidate = header[len(SIGNATURE_PREFIX) :].lower().encode("utf-8", "replace")
    expected = meta_signature(app_secret, body)[len(SIGNATURE_PREFIX) :].encode()
    if not hmac.compare_digest(candidate, expected):
        raise VerificationError("signature", "X-Hub-Signature-256 does not match the body")


def answer_challenge(*, verify_token: str, query: Mapping[str, str]) -> PlatformAnswer:
    """The subscription handshake: echo ``hub.challenge`` when the verify token matches."""
    mode = query.get("hub.mode", "")
    token = query.get("hub.verify_token", "")
    challenge = query.get("hub.challenge", "")
    token_ok = hmac.compare_digest(token.encode(), verify_token.encode())
    if mode != "subscribe" or not token_ok:
        raise VerificationError("signature", "hub.mode or hub.verify_token does not match")
    if not challenge or len(challenge) > MAX_CHALLENGE:
        raise VerificationError("signature", "hub.challenge is missing or too long")
    return PlatformAnswer(body=challenge.encode())


# --- the payloads, bounded: strings copied into events are capped, ids are length-checked ---


def _instant(value: Any) -> datetime:
    """Meta's times: seconds or milliseconds (as numbers or strings), or ISO 8601; in UTC."""
    try:
        return _to_utc(value)
    except (OverflowError, OSError) as exc:  # pydantic turns only ValueError into its error
        raise ValueError("time out of range") from exc


def _to_utc(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a time")
    try:
        number = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError("not a time") from None  # its message would quote the payload
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    if not math.isfinite(number):
        raise ValueError("not a finite time")
    if number > MS_THRESHOLD:  # later than 5138 in seconds: milliseconds (strictly above)
        number /= 1000
    if not 0 <= number < MAX_EPOCH_SECONDS:  # up to the year 9999
        raise ValueError("time out of range")
    return from_seconds(number)


Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = CappedText
Short = Annotated[str, capped(200)]  # Meta's own bounds: truncated, not refused
Url = Annotated[str, capped(4096)]
Instant = Annotated[datetime, BeforeValidator(_instant)]


class _Payload(Payload):
    model_config = ConfigDict(coerce_numbers_to_str=True)  # Meta sends some ids as numbers


class Party(_Payload):
    id: Id | None = None
    name: Short | None = None
    username: Short | None = None


class Coordinates(_Payload):
    lat: float | None = None
    long: float | None = None


class AttachmentPayload(_Payload):
    url: Url | None = None
    sticker_id: Short | None = None
    title: Text | None = None
    coordinates: Coordinates | None = None


class Attachment(_Payload):
    type: Short = "other"
    payload: AttachmentPayload | None = None


class Story(_Payload):
    id: Id | None = None
    url: Url | None = None


class ReplyTo(_Payload):
    mid: Id | None = None
    story: Story | None = None


class QuickReply(_Payload):
    payload: Text | None = None


class Message(_Payload):
    mid: Id | None = None
    text: Text | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    quick_reply: QuickReply | None = None
    reply_to: ReplyTo | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class Postback(_Payload):
    mid: Id | None = None
    title: Text | None = None
    payload: Text | None = None


class Reaction(_Payload):
    mid: Id | None = None
    action: Short | None = None
    reaction: Short | None = None
    emoji: Short | None = None


class Messaging(_Payload):
    """One event of ``entry[].messaging[]`` (Messenger and Instagram alike)."""

    sender: Party | None = None
    recipient: Party | None = None
    timestamp: Instant | None = None
    message: Message | None = None
    postback: Postback | None = None
    reaction: Reaction | None = None


class Change(_Payload):
    field: Short
    value: Any = None


class Owner(_Payload):
    """Just the ``id`` of an entry: the page or Instagram account it is for."""

    id: Id | None = None


class Entry(_Payload):
    """One entry; its messaging items and changes are read one by one (a bad one is skipped)."""

    id: Id | None = None
    time: Instant | None = None
    messaging: list[Any] = Field(default_factory=list)
    changes: list[Any] = Field(default_factory=list)


class Envelope(_Payload):
    """What must be readable for a push to be accepted at all; the entries are read one by one."""

    object: Short
    entry: list[Any]


class FeedChange(_Payload):
    """``field: feed`` on a page: comments, shares, reactions (and posts, ignored)."""

    item: Short | None = None
    verb: Short | None = None
    from_: Party | None = Field(default=None, alias="from")
    post_id: Id | None = None
    comment_id: Id | None = None
    share_id: Id | None = None
    message: Text | None = None
    reaction_type: Short | None = None
    created_time: Instant | None = None


class Media(_Payload):
    id: Id | None = None


class InstagramComment(_Payload):
    """``field: comments`` / ``live_comments`` on an Instagram account."""

    id: Id | None = None
    text: Text | None = None
    from_: Party | None = Field(default=None, alias="from")
    media: Media | None = None
    timestamp: Instant | None = None


class InstagramMention(_Payload):
    """``field: mentions``: the account was @mentioned in a comment (no author in the push)."""

    media_id: Id | None = None
    comment_id: Id | None = None
    from_: Party | None = Field(default=None, alias="from")


class WaText(_Payload):
    body: Text | None = None


class WaMedia(_Payload):
    id: Id | None = None
    mime_type: Short | None = None
    caption: Text | None = None
    filename: Text | None = None


class WaLocation(_Payload):
    latitude: float | None = None
    longitude: float | None = None
    name: Text | None = None
    address: Text | None = None


class WaButton(_Payload):
    text: Text | None = None
    payload: Text | None = None


class WaReply(_Payload):
    id: Short | None = None
    title: Text | None = None


class WaInteractive(_Payload):
    type: Short | None = None
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaReaction(_Payload):
    message_id: Id | None = None
    emoji: Short | None = None


class WaMessage(_Payload):
    from_: Id | None = Field(default=None, alias="from")
    id: Id | None = None
    timestamp: Instant | None = None
    type: Short = "unknown"
    text: WaText | None = None
    image: WaMedia | None = None
    audio: WaMedia | None = None
    video: WaMedia | None = None
    document: WaMedia | None = None
    sticker: WaMedia | None = None
    location: WaLocation | None = None
    button: WaButton | None = None
    interactive: WaInteractive | None = None
    reaction: WaReaction | None = None


class WaMetadata(_Payload):
    phone_number_id: Id | None = None


class WaOwner(_Payload):
    """Just the phone number a ``field: messages`` value is for."""

    metadata: WaMetadata | None = None


class WaValue(_Payload):
    """``field: messages`` of a WhatsApp Business Account: fan messages and our own statuses.
    The messages are read one by one (a bad one is skipped)."""

    messages: list[Any] = Field(default_factory=list)
    # delivery receipts of our own messages: not fan events
    statuses: list[dict[str, Any]] = Field(default_factory=list)


ENVELOPE = TypeAdapter(Envelope)
OWNER = TypeAdapter(Owner)
ENTRY = TypeAdapter(Entry)
MESSAGING = TypeAdapter(Messaging)
CHANGE = TypeAdapter(Change)
WA_OWNER = TypeAdapter(WaOwner)
WA_MESSAGE = TypeAdapter(WaMessage)
FEED = TypeAdapter(FeedChange)
IG_COMMENT = TypeAdapter(InstagramComment)
IG_MENTION = TypeAdapter(InstagramMention)
WA_VALUE = TypeAdapter(WaValue)

MessageType = Literal[
    "text", "image", "voice", "video", "location", "link", "file", "sticker", "event", "other"
]
MediaKind = Literal["image", "voice", "video", "file", "sticker", "location", "link"]
# Messenger / Instagram attachment types → (message_type, media kind).
ATTACHMENT_KINDS: Mapping[str, tuple[MessageType, MediaKind]] = {
    "image": ("image", "image"), "video": ("video", "video"), "audio": ("voice", "voice"),
    "file": ("file", "file"), "location": ("location", "location"),
    "fallback": ("link", "link"), "share": ("link", "link"), "story_mention": ("link", "link"),
    "ig_reel": ("link", "link"), "reel": ("link", "link"), "template": ("link", "link"),
    "sticker": ("sticker", "sticker"),
}  # fmt: skip
# WhatsApp media message types → (message_type, media kind).
WA_MEDIA_KINDS: Mapping[str, tuple[MessageType, MediaKind]] = {
    "image": ("image", "image"), "audio": ("voice", "voice"), "video": ("video", "video"),
    "document": ("file", "file"), "sticker": ("sticker", "sticker"),
}  # fmt: skip


# --- normalisation ---


@dataclass(frozen=True)
class _Context:
    platform: str
    account: str
    received_at: datetime
    object_id: str | None = None

    def owns(self, object_id: str | None) -> bool:
        """Whether an entry (or WhatsApp value) for ``object_id`` is this account's."""
        return self.object_id is None or object_id == self.object_id

    def is_self(self, user: str) -> bool:
        """The page / account / number itself (its own messages, replies and posts)."""
        return user == self.account or user == self.object_id

    def common(self, user_id: str, when: datetime | None, thread_ref: str | None) -> dict[str, Any]:
        return {
            "platform": self.platform, "account": self.account, "user_id": user_id,
            "occurred_at": (when or self.received_at).astimezone(UTC), "thread_ref": thread_ref,
        }  # fmt: skip


def _geo(lat: float | None, long: float | None) -> str | None:
    """A ``geo:`` URI (RFC 5870) for a shared location."""
    if lat is None or long is None or not (math.isfinite(lat) and math.isfinite(long)):
        return None
    return f"geo:{lat},{long}"


def _messaging_event(
    ctx: _Context, item: Messaging, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    user = item.sender.id if item.sender else None
    if user is None or ctx.is_self(user):  # no fan, or the page / account itself
        return None
    when = item.timestamp or entry_time
    common = ctx.common(user, when, thread_ref=user)
    stamp = str(int(when.timestamp() * 1000)) if when else "-"
    if item.message is not None:
        return _message_event(ctx, item.message, common)
    if item.postback is not None:
        postback = item.postback
        platform_id = postback.mid or f"postback:{user}:{stamp}"
        contract: FanEvent = MessageReceived(
            **common, platform_event_id=postback.mid, message_id=platform_id,
            message_type="event", text=postback.title or postback.payload,
        )  # fmt: skip
        return fan_event(contract, platform_id)
    if item.reaction is not None:
        reaction = item.reaction
        if reaction.action != "react" or not reaction.mid:
            return None  # "unreact": nothing the system tracks
        emoji = reaction.emoji or reaction.reaction or "like"
        contract = ReactionAdded(**common, target_id=reaction.mid, reaction=emoji)
        return fan_event(contract, f"reaction:{reaction.mid}:{user}:{emoji}:{stamp}")
    return None  # read, delivery, optin, referral, typing…: not used


def _message_event(
    ctx: _Context, message: Message, common: dict[str, Any]
) -> CloudEvent[FanEvent] | None:
    if message.is_echo or message.is_deleted or not message.mid:
        return None  # our own messages, retractions, or nothing to identify it by
    media: list[MediaRef] = []
    message_type: MessageType = "text" if message.text is not None else "other"
    for index, attachment in enumerate(message.attachments):
        payload = attachment.payload or AttachmentPayload()
        kinds = ATTACHMENT_KINDS.get(attachment.type)
        if attachment.type == "image" and payload.sticker_id:
            kinds = ("sticker", "sticker")
        if kinds is None:
            continue  # an unknown kind: no media ref (and "other" if it is the whole message)
        if index == 0 and message.text is None:
            message_type = kinds[0]
        url = payload.url
        if kinds[1] == "location" and payload.coordinates is not None:
            url = url or _geo(payload.coordinates.lat, payload.coordinates.long)
        media.append(MediaRef(kind=kinds[1], url=url, platform_media_id=payload.sticker_id))
    if message.reply_to is not None and message.reply_to.story is not None:
        story = message.reply_to.story  # an Instagram story reply: keep what was replied to
        media.append(MediaRef(kind="link", platform_media_id=story.id, url=story.url))
    if message.is_unsupported:
        message_type = "other"
    contract = MessageReceived(
        **common, platform_event_id=message.mid, message_id=message.mid,
        message_type=message_type,
        text=message.text, media=tuple(media),
    )  # fmt: skip
    return fan_event(contract, message.mid)


def _feed_event(
    ctx: _Context, value: Any, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    change = FEED.validate_python(value)
    user = change.from_.id if change.from_ else None
    if change.verb != "add" or user is None or ctx.is_self(user):
        return None  # edits, removals, hides, and the page's own activity
    when = change.created_time or entry_time
    common = ctx.common(user, when, thread_ref=change.post_id)
    contract: FanEvent
    if change.item == "comment" and change.comment_id:
        contract = CommentCreated(
            **common, platform_event_id=change.comment_id, comment_id=change.comment_id,
            post_id=change.post_id, text=change.message,
        )  # fmt: skip
        return fan_event(contract, change.comment_id)
    if change.item == "share" and (change.share_id or change.post_id):
        content_id = change.post_id or change.share_id or ""
        platform_id = change.share_id or change.post_id or ""
        contract = ContentShared(**common, platform_event_id=platform_id, content_id=content_id)
        return fan_event(contract, platform_id)
    if change.item == "reaction" and (change.comment_id or change.post_id):
        target = change.comment_id or change.post_id or ""
        kind = change.reaction_type or "like"
        stamp = str(int(when.timestamp())) if when else "-"
        contract = ReactionAdded(**common, target_id=target, reaction=kind)
        return fan_event(contract, f"reaction:{target}:{user}:{kind}:{stamp}")
    return None  # posts, status updates, likes of other kinds…


def _instagram_change(
    ctx: _Context, change: Change, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    if change.field in ("comments", "live_comments"):
        comment = IG_COMMENT.validate_python(change.value)
        user = comment.from_.id if comment.from_ else None
        if not comment.id or user is None or ctx.is_self(user):
            return None  # our own replies are not fan comments
        post = comment.media.id if comment.media else None
        common = ctx.common(user, comment.timestamp or entry_time, thread_ref=post)
        contract = CommentCreated(
            **common, platform_event_id=comment.id, comment_id=comment.id, post_id=post,
            text=comment.text,
        )  # fmt: skip
        return fan_event(contract, comment.id)
    if change.field == "mentions":
        mention = IG_MENTION.validate_python(change.value)
        # Meta sends only media_id and comment_id here: the author is fetched through the Graph
        # API. Without it there is no fan to attribute the mention to, so the push is skipped
        # rather than credited to a made-up user.
        user = mention.from_.id if mention.from_ else None
        if not mention.comment_id or user is None or ctx.is_self(user):
            return None
        common = ctx.common(user, entry_time, thread_ref=mention.media_id)
        contract = CommentCreated(
            **common, platform_event_id=mention.comment_id, comment_id=mention.comment_id,
            post_id=mention.media_id, is_mention=True,
        )  # fmt: skip
        return fan_event(contract, mention.comment_id)
    return None


def _whatsapp_message(ctx: _Context, message: WaMessage) -> CloudEvent[FanEvent] | None:
    user, wamid = message.from_, message.id
    if user is None or wamid is None:
        return None
    common = ctx.common(user, message.timestamp, thread_ref=user)
    contract: FanEvent
    if message.type == "reaction":
        reaction = message.reaction
        if reaction is None or not reaction.message_id or not reaction.emoji:
            return None  # an empty emoji is the fan taking the reaction back
        contract = ReactionAdded(
            **common, platform_event_id=wamid, target_id=reaction.message_id,
            reaction=reaction.emoji,
        )  # fmt: skip
        return fan_event(contract, wamid)
    message_type, text, media = _whatsapp_content(message)
    contract = MessageReceived(
        **common, platform_event_id=wamid, message_id=wamid,
        message_type=message_type,
        text=text, media=media,
    )  # fmt: skip
    return fan_event(contract, wamid)


def _whatsapp_content(
    message: WaMessage,
) -> tuple[MessageType, str | None, tuple[MediaRef, ...]]:
    if message.type == "text":
        return "text", message.text.body if message.text else None, ()
    if message.type in WA_MEDIA_KINDS:
        message_type, kind = WA_MEDIA_KINDS[message.type]
        item: WaMedia | None = getattr(message, message.type)
        if item is None:
            return message_type, None, ()
        ref = MediaRef(kind=kind, platform_media_id=item.id, mime_type=item.mime_type)
        return message_type, item.caption or item.filename, (ref,)
    if message.type == "location" and message.location is not None:
        place = message.location
        text = ", ".join(part for part in (place.name, place.address) if part) or None
        ref = MediaRef(kind="location", url=_geo(place.latitude, place.longitude))
        return "location", text, (ref,)
    if message.type == "button" and message.button is not None:
        return "event", message.button.text or message.button.payload, ()
    if message.type == "interactive" and message.interactive is not None:
        chosen = message.interactive.button_reply or message.interactive.list_reply
        return "event", chosen.title if chosen else None, ()
    return "other", None, ()  # contacts, order, system, unsupported, unknown


# --- the adapter ---


class MetaWebhooks:
    """Messenger, Instagram and WhatsApp: inbound webhooks and the Send / Cloud API.

    Meta's send APIs take no idempotency key: delivery is at-least-once. The outbound table
    sends each reply once; only a crash between the API's answer and recording it sends twice.
    """

    secret_headers: ClassVar[frozenset[str]] = frozenset({SIGNATURE_HEADER, "x-hub-signature"})
    secret_query: ClassVar[frozenset[str]] = frozenset({"hub.verify_token"})

    platforms: ClassVar[tuple[str, ...]] = PLATFORMS
    account_model: ClassVar[type[PlatformAccount]] = MetaAccount
    default_send_base_url: ClassVar[str] = "https://graph.facebook.com"

    def handshake(self, account: MetaAccount, request: InboundRequest) -> PlatformAnswer:
        return answer_challenge(
            verify_token=account.verify_token.get_secret_value(), query=request.query
        )

    def verify(self, account: MetaAccount, request: InboundRequest) -> None:
        verify_meta_signature(
            app_secret=account.app_secret.get_secret_value(), headers=request.headers,
            body=request.body,
        )  # fmt: skip

    def normalise(
        self, account: MetaAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        envelope = parse_json(ENVELOPE, request.body)
        expected = OBJECTS[account.platform]
        if envelope.object != expected:
            raise MalformedPayload(
                f"object {envelope.object!r} is not {expected!r} ({account.platform})"
            )
        ctx = _Context(account.platform, account.account_id, request.received_at, account.object_id)
        batch = BatchItems(account.platform, account.account_id)
        for index, entry in enumerate(envelope.entry):
            _entry_events(ctx, batch, f"entry.{index}", entry)
        return batch.events_or_refusal()

    def acknowledge(
        self, account: MetaAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        return PlatformAnswer(body=ACKNOWLEDGEMENT)

    async def send(
        self, account: MetaAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One POST to the Send API (Messenger, Instagram) or the Cloud API (WhatsApp), the
        token in the Authorization header so that it never lands in a URL or an access log."""
        if account.access_token is None:
            return not_sent("the account has no access_token")
        token = account.access_token.get_secret_value()
        url, body = send_request(account, reply, base_url)
        response = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        return send_outcome(response, token)


def _entry_events(ctx: _Context, batch: BatchItems, where: str, raw: Any) -> None:
    with batch.item(where):
        if ctx.platform != "whatsapp" and not ctx.owns(OWNER.validate_python(raw).id):
            return  # another page's or Instagram account's entry: not an error
        entry = ENTRY.validate_python(raw)
        if not entry.messaging and not entry.changes:
            batch.add(None)
        for index, item in enumerate(entry.messaging):
            with batch.item(f"{where}.messaging.{index}"):
                batch.add(_messaging_event(ctx, MESSAGING.validate_python(item), entry.time))
        for index, change in enumerate(entry.changes):
            _change_events(ctx, batch, f"{where}.changes.{index}", change, entry.time)


def _change_events(
    ctx: _Context, batch: BatchItems, where: str, raw: Any, entry_time: datetime | None
) -> None:
    with batch.item(where):
        change = CHANGE.validate_python(raw)
        if ctx.platform == "whatsapp":
            if change.field == "messages":
                _whatsapp_events(ctx, batch, f"{where}.value", change.value)
            else:
                batch.add(None)
        elif ctx.platform == "messenger":
            batch.add(
                _feed_event(ctx, change.value, entry_time) if change.field == "feed" else None
            )
        else:
            batch.add(_instagram_change(ctx, change, entry_time))


def _whatsapp_events(ctx: _Context, batch: BatchItems, where: str, raw: Any) -> None:
    metadata = WA_OWNER.validate_python(raw).metadata
    if not ctx.owns(metadata.phone_number_id if metadata else None):
        return  # another phone number's messages: not an error
    value = WA_VALUE.validate_python(raw)
    if not value.messages:
        batch.add(None)  # value.statuses: receipts of our own messages, not fan events
    for index, message in enumerate(value.messages):
        with batch.item(f"{where}.messages.{index}"):
            batch.add(_whatsapp_message(ctx, WA_MESSAGE.validate_python(message)))


def send_request(
    account: MetaAccount, reply: ReplyRequested, base_url: str
) -> tuple[str, dict[str, Any]]:
    base = base_url.rstrip("/")
    if account.platform == "whatsapp":
        body: dict[str, Any] = {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": reply.user_id, "type": "text",
            "text": {"preview_url": False, "body": reply.text},
        }  # fmt: skip
        if reply.in_reply_to:
            body["context"] = {"message_id": reply.in_reply_to}
        return f"{base}/{GRAPH_VERSION}/{quote(account.account_id, safe='')}/messages", body
    body = {
        "recipient": {"id": reply.user_id}, "messaging_type": "RESPONSE",
        "message": {"text": reply.text},
    }  # fmt: skip
    return f"{base}/{GRAPH_VERSION}/me/messages", body


def send_outcome(response: httpx.Response, token: str) -> SendOutcome:
    status = response.status_code
    answer = json_object(response)
    if 200 <= status < 300:
        return SendOutcome(delivered=True, status_code=status, platform_message_id=_sent_id(answer))
    error = answer.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    transient = error.get("is_transient") is True
    known = isinstance(code, int) and code in RETRYABLE_CODES
    retryable = retryable_status(status) or transient or known
    detail = (
        f"HTTP {status}: {error.get('type', '')} code={code} "
        f"subcode={error.get('error_subcode')} {error.get('message', '')}"
    )
    return SendOutcome(
        delivered=False, status_code=status, error=redact(detail, token)[:1000],
        retryable=retryable,
    )  # fmt: skip


def _sent_id(answer: Mapping[str, Any]) -> str | None:
    """``message_id`` (Send API) or ``messages[0].id`` (WhatsApp Cloud API)."""
    if isinstance(answer.get("message_id"), str):
        return str(answer["message_id"])
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        sent = messages[0].get("id")
        return sent if isinstance(sent, str) else None
    return None
