"""The WhatsApp Cloud API's ``field: messages`` changes: fans' messages and reactions (the
statuses of our own messages are not fan events)."""

from collections.abc import Mapping

from services.ingest.platforms.common import BatchItems, fan_event
from services.ingest.platforms.meta.context import MediaKind, PushContext, geo_uri
from services.ingest.platforms.meta.whatsapp_payloads import (
    WA_MESSAGE,
    WA_OWNER,
    WA_VALUE,
    WaMedia,
    WaMessage,
    WaReaction,
)
from shared.contracts import (
    FanEvent,
    FanFields,
    MediaRef,
    MessageReceived,
    MessageType,
    ReactionAdded,
)
from shared.events import CloudEvent

# WhatsApp media message types → (message_type, media kind).
WA_MEDIA_KINDS: Mapping[str, tuple[MessageType, MediaKind]] = {
    "image": ("image", "image"), "audio": ("voice", "voice"), "video": ("video", "video"),
    "document": ("file", "file"), "sticker": ("sticker", "sticker"),
}  # fmt: skip


def whatsapp_events(ctx: PushContext, batch: BatchItems, where: str, raw: object) -> None:
    """The messages of one ``value``, each read on its own, if it is for this account's number."""
    metadata = WA_OWNER.validate_python(raw).metadata
    if not ctx.owns(metadata.phone_number_id if metadata else None):
        return  # another phone number's messages: not an error
    value = WA_VALUE.validate_python(raw)
    if not value.messages:
        batch.add(None)  # value.statuses: receipts of our own messages, not fan events
    for index, message in enumerate(value.messages):
        with batch.item(f"{where}.messages.{index}"):
            batch.add(_message_event(ctx, WA_MESSAGE.validate_python(message)))


def _message_event(ctx: PushContext, message: WaMessage) -> CloudEvent[FanEvent] | None:
    user, wamid = message.from_, message.id
    if user is None or wamid is None:
        return None
    fields = ctx.fields(user, message.timestamp, thread_ref=user, platform_event_id=wamid)
    if message.type == "reaction":
        return _reaction_event(message.reaction, fields, wamid)
    message_type, text, media = _content(message)
    contract = MessageReceived(
        **fields, message_id=wamid, message_type=message_type, text=text, media=media
    )
    return fan_event(contract, wamid)


def _reaction_event(
    reaction: WaReaction | None, fields: FanFields, wamid: str
) -> CloudEvent[FanEvent] | None:
    if reaction is None or not reaction.message_id or not reaction.emoji:
        return None  # an empty emoji is the fan taking the reaction back
    contract = ReactionAdded(**fields, target_id=reaction.message_id, reaction=reaction.emoji)
    return fan_event(contract, wamid)


def _content(message: WaMessage) -> tuple[MessageType, str | None, tuple[MediaRef, ...]]:
    """The message type, text and media of a message of any type but reaction."""
    if message.type == "text":
        return "text", message.text.body if message.text else None, ()
    if message.type in WA_MEDIA_KINDS:
        return _media_content(message)
    if message.type == "location" and message.location is not None:
        place = message.location
        text = ", ".join(part for part in (place.name, place.address) if part) or None
        ref = MediaRef(kind="location", url=geo_uri(place.latitude, place.longitude))
        return "location", text, (ref,)
    if message.type == "button" and message.button is not None:
        return "event", message.button.text or message.button.payload, ()
    if message.type == "interactive" and message.interactive is not None:
        chosen = message.interactive.button_reply or message.interactive.list_reply
        return "event", chosen.title if chosen else None, ()
    return "other", None, ()  # contacts, order, system, unsupported, unknown


def _media_content(message: WaMessage) -> tuple[MessageType, str | None, tuple[MediaRef, ...]]:
    message_type, kind = WA_MEDIA_KINDS[message.type]
    item = _media(message)
    if item is None:
        return message_type, None, ()
    ref = MediaRef(kind=kind, platform_media_id=item.id, mime_type=item.mime_type)
    return message_type, item.caption or item.filename, (ref,)


def _media(message: WaMessage) -> WaMedia | None:
    """The object a media message carries under the name of its type."""
    media = {
        "image": message.image, "audio": message.audio, "video": message.video,
        "document": message.document, "sticker": message.sticker,
    }  # fmt: skip
    return media.get(message.type)
