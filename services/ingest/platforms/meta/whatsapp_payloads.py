"""What the WhatsApp Cloud API pushes under ``field: messages``, bounded like the rest of Meta's
payloads. The owner is read before the value (another number's messages are skipped, not
errors), and each message on its own (a bad one is skipped)."""

from pydantic import Field, TypeAdapter

from services.ingest.platforms.meta.payloads import Id, Instant, MetaPayload, Raw, Short, Text


class WaText(MetaPayload):
    body: Text | None = None


class WaMedia(MetaPayload):
    id: Id | None = None
    mime_type: Short | None = None
    caption: Text | None = None
    filename: Text | None = None


class WaLocation(MetaPayload):
    latitude: float | None = None
    longitude: float | None = None
    name: Text | None = None
    address: Text | None = None


class WaButton(MetaPayload):
    text: Text | None = None
    payload: Text | None = None


class WaReply(MetaPayload):
    id: Short | None = None
    title: Text | None = None


class WaInteractive(MetaPayload):
    type: Short | None = None
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaReaction(MetaPayload):
    message_id: Id | None = None
    emoji: Short | None = None


class WaMessage(MetaPayload):
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


class WaMetadata(MetaPayload):
    phone_number_id: Id | None = None


class WaOwner(MetaPayload):
    """Just the phone number a ``field: messages`` value is for."""

    metadata: WaMetadata | None = None


class WaValue(MetaPayload):
    """``field: messages`` of a WhatsApp Business Account: fan messages and our own statuses.
    The messages are read one by one (a bad one is skipped)."""

    messages: list[Raw] = Field(default_factory=list)
    # delivery receipts of our own messages: not fan events
    statuses: list[dict[str, object]] = Field(default_factory=list)


WA_OWNER = TypeAdapter(WaOwner)
WA_VALUE = TypeAdapter(WaValue)
WA_MESSAGE = TypeAdapter(WaMessage)
