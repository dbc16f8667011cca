"""The CloudEvents 1.0 envelope in the Kafka protocol binding's binary mode.

Attributes travel as ``ce_*`` headers, the event's data as JSON in the value, and the record key is
the fan key, so all of one fan's events stay in order on one partition.
"""

import functools
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
# Event ids are UUIDv5 in this namespace, so the same platform ids always give the same event id.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1b2e-5a3d-4f0e-9a57-2f4f3c1d8e10")
_NAMESPACE = EVENT_ID_NAMESPACE.bytes

Headers = Sequence[tuple[str, bytes]]


class EventData(BaseModel):
    """The data of one event type. Subclasses name their CloudEvents type and are immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]


DataT = TypeVar("DataT", bound=EventData)

_REGISTRY: dict[str, type[EventData]] = {}


def register(cls: type[DataT]) -> type[DataT]:
    """Class decorator: make an event type decodable from Kafka."""
    if cls.event_type in _REGISTRY:
        raise ValueError(f"event type {cls.event_type} registered twice")
    _REGISTRY[cls.event_type] = cls
    return cls


def registered_types() -> dict[str, type[EventData]]:
    return dict(_REGISTRY)


class CloudEvent(BaseModel, Generic[DataT]):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    type: str
    source: str
    subject: str = Field(description="the fan key platform:account:user, also the record key")
    time: AwareDatetime
    data: DataT
    specversion: str = SPEC_VERSION

    @classmethod
    def of(
        cls, data: DataT, *, id: str, source: str, subject: str, time: datetime | None = None
    ) -> "CloudEvent[DataT]":
        return CloudEvent(
            id=id,
            type=data.event_type,
            source=source,
            subject=subject,
            time=(time or datetime.now(UTC)).astimezone(UTC),
            data=data,
        )


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class EnvelopeError(ValueError):
    """A record that is not a CloudEvent this system knows how to read."""


def encode(event: CloudEvent[DataT]) -> KafkaRecord:
    headers = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", event.time.isoformat().encode()),
        ("ce_subject", event.subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    return KafkaRecord(
        key=event.subject.encode(),
        value=event.data.model_dump_json().encode(),
        headers=headers,
    )


def decode(headers: Headers, value: bytes | None) -> CloudEvent[Any]:
    attributes = {name: raw.decode("utf-8", "replace") for name, raw in headers}
    event_type = attributes.get("ce_type")
    data_cls = _REGISTRY.get(event_type or "")
    if data_cls is None:
        raise EnvelopeError(f"unknown or missing ce_type: {event_type!r}")
    try:
        return _envelope(data_cls).model_validate(
            {
                "specversion": attributes.get("ce_specversion"),
                "id": attributes.get("ce_id"),
                "type": event_type,
                "source": attributes.get("ce_source"),
                "subject": attributes.get("ce_subject"),
                "time": attributes.get("ce_time"),
                "data": data_cls.model_validate_json(value or b""),
            }
        )
    except ValidationError as exc:
        raise EnvelopeError(f"invalid {event_type} event: {exc}") from exc


@functools.cache
def _envelope(data_cls: type[DataT]) -> type[CloudEvent[DataT]]:
    """`CloudEvent[data_cls]`, made once: pydantic's own lookup of a parametrised model cost more
    than decoding the event (it keeps them weakly, and made most of them anew)."""
    return CloudEvent[data_cls]  # type: ignore[valid-type]


def event_id(*parts: str) -> str:
    """A deterministic event id from the platform's own ids (platform, account, event id...)."""
    # uuid.uuid5(EVENT_ID_NAMESPACE, name), written out: the UUID object cost 4x the hash, on
    # every webhook's path (RFC 9562 section 5.5: SHA-1, version 5, variant 10)
    name = _NAMESPACE + "\x1f".join(parts).encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    hexed = digest.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def body_digest(body: bytes) -> str:
    """Stands in for the platform id when a platform sends none: a retry has the same body."""
    return hashlib.sha256(body).hexdigest()


def fan_key(platform: str, account: str, user_id: str) -> str:
    return f"{platform}:{account}:{user_id}"
