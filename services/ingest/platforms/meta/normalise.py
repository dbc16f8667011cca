"""A push read into events: the envelope must be readable, then every entry, messaging item,
change and WhatsApp message is read on its own, and goes to the reader of its product."""

from datetime import datetime

from services.ingest.platforms.base import InboundRequest, MalformedPayload
from services.ingest.platforms.common import BatchItems, parse_json
from services.ingest.platforms.meta.account import OBJECTS, MetaAccount
from services.ingest.platforms.meta.changes import feed_event, instagram_event
from services.ingest.platforms.meta.context import PushContext
from services.ingest.platforms.meta.messaging import messaging_event
from services.ingest.platforms.meta.payloads import CHANGE, ENTRY, ENVELOPE, MESSAGING, OWNER
from services.ingest.platforms.meta.whatsapp import whatsapp_events
from shared.contracts import FanEvent
from shared.events import CloudEvent


def push_events(account: MetaAccount, request: InboundRequest) -> list[CloudEvent[FanEvent]]:
    """The events of a push for ``account``; MalformedPayload if it cannot be read at all."""
    envelope = parse_json(ENVELOPE, request.body)
    expected = OBJECTS[account.platform]
    if envelope.object != expected:
        raise MalformedPayload(
            f"object {envelope.object!r} is not {expected!r} ({account.platform})"
        )
    ctx = PushContext(account.platform, account.account_id, request.received_at, account.object_id)
    batch = BatchItems(account.platform, account.account_id)
    for index, entry in enumerate(envelope.entry):
        _entry_events(ctx, batch, f"entry.{index}", entry)
    return batch.events_or_refusal()


def _entry_events(ctx: PushContext, batch: BatchItems, where: str, raw: object) -> None:
    with batch.item(where):
        if ctx.platform != "whatsapp" and not ctx.owns(OWNER.validate_python(raw).id):
            return  # another page's or Instagram account's entry: not an error
        entry = ENTRY.validate_python(raw)
        if not entry.messaging and not entry.changes:
            batch.add(None)
        for index, item in enumerate(entry.messaging):
            with batch.item(f"{where}.messaging.{index}"):
                batch.add(messaging_event(ctx, MESSAGING.validate_python(item), entry.time))
        for index, change in enumerate(entry.changes):
            _change_events(ctx, batch, f"{where}.changes.{index}", change, entry.time)


def _change_events(
    ctx: PushContext, batch: BatchItems, where: str, raw: object, entry_time: datetime | None
) -> None:
    with batch.item(where):
        change = CHANGE.validate_python(raw)
        if ctx.platform == "whatsapp":
            if change.field == "messages":
                whatsapp_events(ctx, batch, f"{where}.value", change.value)
            else:
                batch.add(None)
        elif ctx.platform == "messenger":
            batch.add(feed_event(ctx, change.value, entry_time) if change.field == "feed" else None)
        else:
            batch.add(instagram_event(ctx, change, entry_time))
