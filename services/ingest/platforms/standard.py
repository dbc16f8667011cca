"""The generic source: Standard Webhooks (https://www.standardwebhooks.com) for shops and order
systems. Signature: ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, with
the key inside the ``whsec_`` secret, and a replay window on ``webhook-timestamp``. The payloads
it accepts are the three below: a message, a paid order, a refunded order; each may say who the
person is (``customer_id``, ``phone_sha256``, ``unionid``), which links their identities."""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Final, Literal

import pydantic_core
from pydantic import AfterValidator, AwareDatetime, Field, SecretStr, TypeAdapter, field_validator

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    InboundRequest,
    PlatformAccount,
    PlatformAnswer,
    VerificationError,
    no_handshake,
)
from services.ingest.platforms.common import (
    Payload,
    check_fresh,
    fan_event,
    malformed_on_invalid,
    parse_json,
)
from shared.contracts import (
    FanEvent,
    FanFields,
    FanIdentifiers,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
)
from shared.events import CloudEvent

PLATFORM: Final = "standard"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)


# --- the payloads --------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("not a time that exists in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


class PersonData(Payload):
    """What a shop knows of the person behind the user id: each links the fan's identities
    that carry the same one (scoring). A phone is sent hashed, never in the clear."""

    customer_id: str | None = Field(default=None, min_length=1, max_length=200)
    phone_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the E.164 number, hex"
    )
    unionid: str | None = Field(default=None, min_length=1, max_length=200)

    def identifiers(self) -> FanIdentifiers | None:
        found = FanIdentifiers(
            customer_id=self.customer_id, phone_sha256=self.phone_sha256, unionid=self.unionid
        )
        return found if found.pairs() else None


class MessageData(PersonData):
    message_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, max_length=20_000)
    thread_id: str | None = None


class OrderData(PersonData):
    order_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    amount_cents: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    referral_code: str | None = None


class MessageWebhook(Payload):
    type: Literal["message.received"]
    timestamp: UtcDatetime
    data: MessageData


class OrderPaidWebhook(Payload):
    type: Literal["order.paid"]
    timestamp: UtcDatetime
    data: OrderData


class OrderRefundedWebhook(Payload):
    type: Literal["order.refunded"]
    timestamp: UtcDatetime
    data: OrderData


Webhook = MessageWebhook | OrderPaidWebhook | OrderRefundedWebhook
StandardWebhook = Annotated[Webhook, Field(discriminator="type")]
PAYLOAD = TypeAdapter[Webhook](StandardWebhook)


# --- verification --------------------------------------------------------------------------------


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
    check_fresh(timestamp, now=now, tolerance=tolerance, name="webhook-timestamp")
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


# --- normalisation -------------------------------------------------------------------------------


def normalise_payload(payload: Webhook, *, account: str) -> CloudEvent[FanEvent]:
    fields: FanFields = {
        "platform": PLATFORM, "account": account, "user_id": payload.data.user_id,
        "occurred_at": payload.timestamp, "identifiers": payload.data.identifiers(),
    }  # fmt: skip
    if isinstance(payload, MessageWebhook):
        return _message_received(payload.data, fields)
    order = payload.data
    contract: OrderPaid | OrderRefunded
    if isinstance(payload, OrderPaidWebhook):
        contract = OrderPaid(
            **fields, order_id=order.order_id, amount_cents=order.amount_cents,
            currency=order.currency.upper(), referral_code=order.referral_code,
        )  # fmt: skip
    else:
        contract = OrderRefunded(
            **fields, order_id=order.order_id, amount_cents=order.amount_cents,
            currency=order.currency.upper(),
        )  # fmt: skip
    return fan_event(contract, order.order_id)


def _message_received(message: MessageData, fields: FanFields) -> CloudEvent[FanEvent]:
    fields = {**fields, "platform_event_id": message.message_id, "thread_ref": message.thread_id}
    contract = MessageReceived(**fields, message_id=message.message_id, text=message.text)
    return fan_event(contract, message.message_id)


# --- the adapter ---------------------------------------------------------------------------------


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
        with malformed_on_invalid():  # an event the contract refuses: 400
            return [normalise_payload(payload, account=account.account_id)]

    def acknowledge(
        self, account: StandardAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        body = {"status": "accepted", "event_ids": [event.id for event in events]}
        return PlatformAnswer(body=pydantic_core.to_json(body), media_type="application/json")
