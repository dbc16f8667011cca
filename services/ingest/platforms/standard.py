"""The generic source: Standard Webhooks (https://www.standardwebhooks.com) for shops and order
systems. Signature: ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, with
the key inside the ``whsec_`` secret, and a replay window on ``webhook-timestamp``."""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import pydantic_core
from pydantic import SecretStr, TypeAdapter, field_validator

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    InboundRequest,
    PlatformAccount,
    PlatformAnswer,
    VerificationError,
    no_handshake,
)
from services.ingest.platforms.common import fan_event, parse_json
from services.ingest.schemas import MessageWebhook, OrderPaidWebhook, StandardWebhook
from shared.contracts import FanEvent, MessageReceived, OrderPaid, OrderRefunded
from shared.events import CloudEvent

PLATFORM = "standard"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
PAYLOAD = TypeAdapter[Any](StandardWebhook)


class StandardAccount(PlatformAccount):
    platform: Literal["standard"]
    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _whsec(cls, secret: SecretStr) -> SecretStr:
        if len(_secret_key(secret.get_secret_value())) < 16:
            raise ValueError("a Standard Webhooks secret is whsec_ and base64 of 16+ bytes")
        return secret


def standard_webhook_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the key inside ``whsec_...``."""
    key = _secret_key(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_standard_webhook(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, tolerance: timedelta
) -> str:
    """Check a Standard Webhooks request over its exact bytes; returns its ``webhook-id``."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and timestamp and signatures):
        raise VerificationError("signature", "webhook-id, -timestamp and -signature are required")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise VerificationError("signature", "webhook-timestamp is not seconds since the epoch")
    sent_at = int(timestamp)
    if abs(now.timestamp() - sent_at) > tolerance.total_seconds():
        raise VerificationError("stale_timestamp", "webhook-timestamp outside the tolerance")
    expected = standard_webhook_signature(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return msg_id
    raise VerificationError("signature", "no webhook-signature matches")


def _secret_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from exc


def normalise_payload(payload: Any, *, account: str) -> CloudEvent[FanEvent]:
    data = payload.data
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "account": account,
        "user_id": data.user_id,
        "occurred_at": payload.timestamp,
    }
    contract: FanEvent
    if isinstance(payload, MessageWebhook):
        platform_id = data.message_id
        contract = MessageReceived(
            **common, platform_event_id=platform_id, message_id=platform_id, text=data.text,
            thread_ref=data.thread_id,
        )  # fmt: skip
    else:
        platform_id = data.order_id
        fields = {"order_id": data.order_id, "amount_cents": data.amount_cents,
                  "currency": data.currency.upper()}  # fmt: skip
        contract = (
            OrderPaid(**common, **fields, referral_code=data.referral_code)
            if isinstance(payload, OrderPaidWebhook)
            else OrderRefunded(**common, **fields)
        )
    return fan_event(contract, platform_id)


class StandardWebhooks:
    secret_headers: ClassVar[frozenset[str]] = frozenset({"webhook-signature"})
    secret_query: ClassVar[frozenset[str]] = frozenset()
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = StandardAccount

    def __init__(self, settings: IngestSettings) -> None:
        self._tolerance = timedelta(seconds=settings.webhook_tolerance_seconds)

    def handshake(self, account: StandardAccount, request: InboundRequest) -> PlatformAnswer:
        return no_handshake(request)

    def verify(self, account: StandardAccount, request: InboundRequest) -> None:
        verify_standard_webhook(
            secret=account.secret.get_secret_value(), headers=request.headers,
            body=request.body, now=request.received_at, tolerance=self._tolerance,
        )  # fmt: skip

    def normalise(
        self, account: StandardAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        payload = parse_json(PAYLOAD, request.body)
        return [normalise_payload(payload, account=account.account_id)]

    def acknowledge(
        self, account: StandardAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        body = {"status": "accepted", "event_ids": [event.id for event in events]}
        return PlatformAnswer(body=pydantic_core.to_json(body), media_type="application/json")
