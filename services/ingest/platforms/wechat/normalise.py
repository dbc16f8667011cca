"""A pushed message or event as canonical events. A message's id is its MsgId; an event has none,
so its id is ``FromUserName|CreateTime|Event|EventKey``, as WeChat's documentation recommends for
de-duplicating event retries."""

from datetime import datetime
from typing import Literal

from services.ingest.platforms.base import InboundRequest, MalformedPayload
from services.ingest.platforms.common import fan_event, from_seconds, malformed_on_invalid
from services.ingest.platforms.wechat.xml import PushedXml
from shared.contracts import (
    FanEvent,
    FanFields,
    FanFollowed,
    FanUnfollowed,
    MediaRef,
    MessageReceived,
    MessageType,
)
from shared.events import CloudEvent

IGNORED_EVENTS = frozenset({
    "view", "location", "templatesendjobfinish", "masssendjobfinish", "view_miniprogram",
    "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
    "location_select", "enter_agent", "batch_job_result", "change_contact", "open_approval_change",
})  # fmt: skip

Content = tuple[MessageType, str | None, tuple[MediaRef, ...]]
"""A message's type, text and media."""


def normalise_push(
    msg: PushedXml, *, platform: Literal["wechat", "wecom"], account: str,
    request: InboundRequest, thread_ref: str | None = None,
) -> list[CloudEvent[FanEvent]]:  # fmt: skip
    fields: FanFields = {
        "platform": platform, "account": account, "user_id": msg.FromUserName,
        "occurred_at": _occurred_at(msg, request), "thread_ref": thread_ref,
    }  # fmt: skip
    with malformed_on_invalid():  # an event the contract refuses: 400
        if msg.MsgType.lower() == "event":
            event = _event(msg, fields)
        else:
            event = _message_received(msg, fields)
    return [] if event is None else [event]


def _occurred_at(msg: PushedXml, request: InboundRequest) -> datetime:
    if msg.CreateTime is None:
        return request.received_at
    try:
        return from_seconds(msg.CreateTime)
    except (OverflowError, OSError, ValueError):
        raise MalformedPayload("CreateTime out of range") from None


def _event(msg: PushedXml, fields: FanFields) -> CloudEvent[FanEvent] | None:
    """A follow, an unfollow, or a menu click or QR scan (as a message); None for the others."""
    event = (msg.Event or "").lower()
    if not event or event in IGNORED_EVENTS:
        return None
    parts = [msg.FromUserName, str(msg.CreateTime or ""), msg.Event or "", msg.EventKey or ""]
    composite = "|".join(parts)
    fields = {**fields, "platform_event_id": composite}
    contract: FanEvent
    if event == "subscribe":
        contract = FanFollowed(**fields)
    elif event == "unsubscribe":
        contract = FanUnfollowed(**fields)
    elif event in ("click", "scan"):
        contract = MessageReceived(
            **fields, message_id=composite, message_type="event", text=msg.EventKey
        )
    else:
        return None
    return fan_event(contract, composite)


def _message_received(msg: PushedXml, fields: FanFields) -> CloudEvent[FanEvent] | None:
    if not msg.MsgId:
        return None
    message_type, text, media = _content(msg) or ("other", None, ())
    fields = {**fields, "platform_event_id": msg.MsgId}
    contract = MessageReceived(
        **fields, message_id=msg.MsgId, message_type=message_type, text=text, media=media
    )
    return fan_event(contract, msg.MsgId)


def _content(msg: PushedXml) -> Content | None:
    """None for a message kind this does not know."""
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
