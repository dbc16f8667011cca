"""What Meta pushes for pages and Instagram accounts, and the bounded types of every Meta
payload: strings copied into events are capped, ids are length-checked.

The envelope, an entry, a messaging item and a change each have their own TypeAdapter, since each
is read on its own (a bad one is skipped, not the push refused): the models above them hold the
raw items as ``Raw`` until then. WhatsApp's messages are in ``whatsapp_payloads``.
"""

import math
from datetime import UTC, datetime
from typing import Annotated, TypeAlias

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter

from services.ingest.platforms.common import (
    MAX_EPOCH_SECONDS,
    MS_THRESHOLD,
    CappedText,
    Payload,
    capped,
    from_seconds,
)


def _instant(value: object) -> datetime:
    """Meta's times: seconds or milliseconds (as numbers or strings), or ISO 8601; in UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a time")
    try:
        return _to_utc(value)
    except (OverflowError, OSError) as exc:  # pydantic turns only ValueError into its error
        raise ValueError("time out of range") from exc


def _to_utc(value: int | float | str) -> datetime:
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
# An item held as it came until it is read on its own (a bad one is skipped, not the push refused).
Raw: TypeAlias = object


class MetaPayload(Payload):
    model_config = ConfigDict(coerce_numbers_to_str=True)  # Meta sends some ids as numbers


# --- the push ---


class Envelope(MetaPayload):
    """What must be readable for a push to be accepted at all; the entries are read one by one."""

    object: Short
    entry: list[Raw]


class Owner(MetaPayload):
    """Just the ``id`` of an entry: the page or Instagram account it is for."""

    id: Id | None = None


class Entry(MetaPayload):
    """One entry; its messaging items and changes are read one by one (a bad one is skipped)."""

    id: Id | None = None
    time: Instant | None = None
    messaging: list[Raw] = Field(default_factory=list)
    changes: list[Raw] = Field(default_factory=list)


class Change(MetaPayload):
    field: Short
    value: Raw = None  # read by the model of its field


# --- Messenger and Instagram messaging ---


class Party(MetaPayload):
    id: Id | None = None
    name: Short | None = None
    username: Short | None = None


class Coordinates(MetaPayload):
    lat: float | None = None
    long: float | None = None


class AttachmentPayload(MetaPayload):
    url: Url | None = None
    sticker_id: Short | None = None
    title: Text | None = None
    coordinates: Coordinates | None = None


class Attachment(MetaPayload):
    type: Short = "other"
    payload: AttachmentPayload | None = None


class Story(MetaPayload):
    id: Id | None = None
    url: Url | None = None


class ReplyTo(MetaPayload):
    mid: Id | None = None
    story: Story | None = None


class QuickReply(MetaPayload):
    payload: Text | None = None


class Message(MetaPayload):
    mid: Id | None = None
    text: Text | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    quick_reply: QuickReply | None = None
    reply_to: ReplyTo | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class Postback(MetaPayload):
    mid: Id | None = None
    title: Text | None = None
    payload: Text | None = None


class Reaction(MetaPayload):
    mid: Id | None = None
    action: Short | None = None
    reaction: Short | None = None
    emoji: Short | None = None


class Messaging(MetaPayload):
    """One event of ``entry[].messaging[]`` (Messenger and Instagram alike)."""

    sender: Party | None = None
    recipient: Party | None = None
    timestamp: Instant | None = None
    message: Message | None = None
    postback: Postback | None = None
    reaction: Reaction | None = None


# --- page feed and Instagram changes ---


class FeedChange(MetaPayload):
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


class Media(MetaPayload):
    id: Id | None = None


class InstagramComment(MetaPayload):
    """``field: comments`` / ``live_comments`` on an Instagram account."""

    id: Id | None = None
    text: Text | None = None
    from_: Party | None = Field(default=None, alias="from")
    media: Media | None = None
    timestamp: Instant | None = None


class InstagramMention(MetaPayload):
    """``field: mentions``: the account was @mentioned in a comment (no author in the push)."""

    media_id: Id | None = None
    comment_id: Id | None = None
    from_: Party | None = Field(default=None, alias="from")


ENVELOPE = TypeAdapter(Envelope)
OWNER = TypeAdapter(Owner)
ENTRY = TypeAdapter(Entry)
MESSAGING = TypeAdapter(Messaging)
CHANGE = TypeAdapter(Change)
FEED = TypeAdapter(FeedChange)
IG_COMMENT = TypeAdapter(InstagramComment)
IG_MENTION = TypeAdapter(InstagramMention)
