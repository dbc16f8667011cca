"""Messenger's and Instagram's ``entry[].messaging[]`` items: messages, postbacks and reactions
of fans (echoes of the page's own messages, reads, deliveries and the like are not used)."""

from collections.abc import Mapping
from datetime import datetime

from services.ingest.platforms.common import fan_event
from services.ingest.platforms.meta.context import MediaKind, PushContext, geo_uri
from services.ingest.platforms.meta.payloads import (
    Attachment,
    AttachmentPayload,
    Message,
    Messaging,
    Postback,
    Reaction,
)
from shared.contracts import FanEvent, MediaRef, MessageReceived, MessageType, ReactionAdded
from shared.events import CloudEvent

# Messenger / Instagram attachment types → (message_type, media kind).
ATTACHMENT_KINDS: Mapping[str, tuple[MessageType, MediaKind]] = {
    "image": ("image", "image"), "video": ("video", "video"), "audio": ("voice", "voice"),
    "file": ("file", "file"), "location": ("location", "location"),
    "fallback": ("link", "link"), "share": ("link", "link"), "story_mention": ("link", "link"),
    "ig_reel": ("link", "link"), "reel": ("link", "link"), "template": ("link", "link"),
    "sticker": ("sticker", "sticker"),
}  # fmt: skip


def messaging_event(
    ctx: PushContext, item: Messaging, entry_time: datetime | None
) -> CloudEvent[FanEvent] | None:
    user = item.sender.id if item.sender else None
    if user is None or ctx.is_self(user):  # no fan, or the page / account itself
        return None
    when = item.timestamp or entry_time
    if item.message is not None:
        return _message_event(ctx, item.message, user, when)
    if item.postback is not None:
        return _postback_event(ctx, item.postback, user, when)
    if item.reaction is not None:
        return _reaction_event(ctx, item.reaction, user, when)
    return None  # read, delivery, optin, referral, typing…: not used


def _stamp(when: datetime | None) -> str:
    """The time in milliseconds, for the ids of events Meta gives no id of their own."""
    return str(int(when.timestamp() * 1000)) if when else "-"


def _message_event(
    ctx: PushContext, message: Message, user: str, when: datetime | None
) -> CloudEvent[FanEvent] | None:
    if message.is_echo or message.is_deleted or not message.mid:
        return None  # our own messages, retractions, or nothing to identify it by
    message_type, media = _content(message)
    fields = ctx.fields(user, when, thread_ref=user, platform_event_id=message.mid)
    contract = MessageReceived(
        **fields, message_id=message.mid, message_type=message_type, text=message.text,
        media=media,
    )  # fmt: skip
    return fan_event(contract, message.mid)


def _content(message: Message) -> tuple[MessageType, tuple[MediaRef, ...]]:
    """The message type (without text, its first attachment's) and the media refs."""
    media: list[MediaRef] = []
    message_type: MessageType = "text" if message.text is not None else "other"
    for index, attachment in enumerate(message.attachments):
        kinds = _kinds(attachment)
        if kinds is None:
            continue  # an unknown kind: no media ref (and "other" if it is the whole message)
        if index == 0 and message.text is None:
            message_type = kinds[0]
        media.append(_media_ref(attachment.payload or AttachmentPayload(), kinds[1]))
    if message.reply_to is not None and message.reply_to.story is not None:
        story = message.reply_to.story  # an Instagram story reply: keep what was replied to
        media.append(MediaRef(kind="link", platform_media_id=story.id, url=story.url))
    if message.is_unsupported:
        message_type = "other"
    return message_type, tuple(media)


def _kinds(attachment: Attachment) -> tuple[MessageType, MediaKind] | None:
    if attachment.type == "image" and attachment.payload and attachment.payload.sticker_id:
        return "sticker", "sticker"
    return ATTACHMENT_KINDS.get(attachment.type)


def _media_ref(payload: AttachmentPayload, kind: MediaKind) -> MediaRef:
    url = payload.url
    if kind == "location" and payload.coordinates is not None:
        url = url or geo_uri(payload.coordinates.lat, payload.coordinates.long)
    return MediaRef(kind=kind, url=url, platform_media_id=payload.sticker_id)


def _postback_event(
    ctx: PushContext, postback: Postback, user: str, when: datetime | None
) -> CloudEvent[FanEvent]:
    platform_id = postback.mid or f"postback:{user}:{_stamp(when)}"
    fields = ctx.fields(user, when, thread_ref=user, platform_event_id=postback.mid)
    contract = MessageReceived(
        **fields, message_id=platform_id, message_type="event",
        text=postback.title or postback.payload,
    )  # fmt: skip
    return fan_event(contract, platform_id)


def _reaction_event(
    ctx: PushContext, reaction: Reaction, user: str, when: datetime | None
) -> CloudEvent[FanEvent] | None:
    if reaction.action != "react" or not reaction.mid:
        return None  # "unreact": nothing the system tracks
    emoji = reaction.emoji or reaction.reaction or "like"
    fields = ctx.fields(user, when, thread_ref=user)
    contract = ReactionAdded(**fields, target_id=reaction.mid, reaction=emoji)
    return fan_event(contract, f"reaction:{reaction.mid}:{user}:{emoji}:{_stamp(when)}")
