"""What the platform adapters share: the CloudEvent a canonical contract travels in and what a
message says by its type, the base of every payload model and its bounded string types, reading a
payload or refusing it as malformed, epoch times and the freshness of a signed timestamp, and the
small pieces of a send outcome.

Each platform's own rules stay in its module: which unit an epoch is in, how long its ids may be,
which answers of its send API are worth retrying beyond ``429`` and ``5xx``.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, overload

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.ingest.platforms.base import MalformedPayload, SendOutcome, VerificationError
from shared.contracts import FanEvent, MediaRef, MessageType
from shared.events import CloudEvent, event_id, fan_key
from shared.logging import get_logger

# --- the event ---------------------------------------------------------------------------------


def fan_event(contract: FanEvent, *id_parts: str) -> CloudEvent[FanEvent]:
    """The CloudEvent for ``contract``. Its id is ``event_id(platform, account, event type,
    *id_parts)`` (the de-duplication key: a retried delivery must give the same parts); the
    platform, account, fan and time come from the contract."""
    platform, account = contract.platform, contract.account
    return CloudEvent.of(
        contract,
        id=event_id(platform, account, contract.event_type, *id_parts),
        source=f"scrm/ingest/{platform}/{account}",
        subject=fan_key(platform, account, contract.user_id),
        time=contract.occurred_at,
    )


class MessageBody(NamedTuple):
    """What a message says, by its type."""

    message_type: MessageType
    text: str | None = None
    media: tuple[MediaRef, ...] = ()


# --- payload models ----------------------------------------------------------------------------

MAX_TEXT = 20_000  # characters of free text (messages, comments, captions) kept from a payload


class Payload(BaseModel):
    """The base of a platform's payload models: unknown fields are ignored, nothing is mutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def capped(limit: int) -> AfterValidator:
    """Truncate a string to ``limit`` characters instead of refusing a longer one."""
    return AfterValidator(lambda value: value[:limit])


Id = Annotated[str, Field(min_length=1, max_length=200)]  # a platform id; longer is refused
Text = Annotated[str, Field(max_length=MAX_TEXT)]  # free text; longer is refused
CappedText = Annotated[str, capped(MAX_TEXT)]  # free text; longer is truncated
Short = Annotated[str, Field(max_length=2000)]  # a URL, key or name; longer is refused


# --- reading a payload -------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def validation_summary(exc: ValidationError) -> str:
    """The first five problems of a payload, ``loc: message`` each: the MalformedPayload text."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
        for err in exc.errors()[:5]
    )


@contextmanager
def malformed_on_invalid(prefix: str = "") -> Iterator[None]:
    """Turn a ValidationError raised inside the block into MalformedPayload (400)."""
    try:
        yield
    except ValidationError as exc:
        raise MalformedPayload(prefix + validation_summary(exc)) from exc


@overload
def parse_json(schema: type[M], body: bytes) -> M: ...
@overload
def parse_json(schema: TypeAdapter[T], body: bytes) -> T: ...
def parse_json(schema: type[BaseModel] | TypeAdapter[Any], body: bytes) -> Any:
    """``body`` read as JSON into ``schema`` (a model or a TypeAdapter); raises
    MalformedPayload."""
    with malformed_on_invalid():
        if isinstance(schema, TypeAdapter):
            return schema.validate_json(body)
        return schema.model_validate_json(body)


def parse_object(model: type[M], data: Mapping[str, Any], *, prefix: str = "") -> M:
    """An already decoded object read into ``model``; raises MalformedPayload."""
    with malformed_on_invalid(prefix):
        return model.model_validate(data)


# --- batched pushes ------------------------------------------------------------------------------

MAX_LOGGED_PROBLEMS = 5
log = get_logger(__name__)


@dataclass
class BatchItems:
    """A batched push (Meta, LINE) read item by item: one unreadable item is skipped and
    warned about, the others are produced; a batch of nothing but unreadable items is refused.
    (The platform retries a refused body as it is, so refusing the whole of it would lose the
    good items for good.)"""

    platform: str
    account: str
    events: list[CloudEvent[FanEvent]] = field(default_factory=list)
    read: int = 0
    problems: list[str] = field(default_factory=list)

    @contextmanager
    def item(self, where: str) -> Iterator[None]:
        """One item: a ValidationError inside the block skips it (and is recorded)."""
        try:
            yield
        except ValidationError as exc:
            self.problems.append(f"{where}: {validation_summary(exc)}")

    def add(self, event: CloudEvent[FanEvent] | None) -> None:
        """An item read in full: its event, if it is one the system uses."""
        self.read += 1
        if event is not None:
            self.events.append(event)

    def events_or_refusal(self) -> list[CloudEvent[FanEvent]]:
        """The events; MalformedPayload if items were skipped and none could be read."""
        if self.problems and not self.read:
            raise MalformedPayload("; ".join(self.problems[:MAX_LOGGED_PROBLEMS]))
        if self.problems:
            log.warning(
                "webhook items skipped", platform=self.platform, account=self.account,
                skipped=len(self.problems), read=self.read,
                errors=self.problems[:MAX_LOGGED_PROBLEMS],
            )  # fmt: skip
        return self.events


# --- epoch times and freshness ------------------------------------------------------------------

MS_THRESHOLD = 100_000_000_000  # larger than any plausible epoch-seconds value: milliseconds
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_EPOCH_SECONDS = 253_402_300_800  # exclusive: the first second of the year 10000


def from_seconds(seconds: float) -> datetime:
    """Epoch seconds as an aware UTC datetime (OverflowError, OSError or ValueError if out of
    range)."""
    return datetime.fromtimestamp(seconds, UTC)


def from_millis(millis: float) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, UTC)


MAX_TIMESTAMP_DIGITS = 12  # seconds since the epoch; longer is not a timestamp


def check_fresh(
    timestamp: str, *, now: datetime, tolerance: timedelta, name: str = "timestamp"
) -> None:
    """Refuse a signed ``timestamp`` (seconds since the epoch, as sent in the parameter or header
    ``name``) further than ``tolerance`` from ``now``: VerificationError "stale_timestamp"; one
    that is not seconds since the epoch is refused as "signature"."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise VerificationError("signature", f"{name} is not seconds since the epoch")
    if abs(now.timestamp() - int(timestamp)) > tolerance.total_seconds():
        raise VerificationError("stale_timestamp", f"{name} outside the tolerance")


# --- sending -----------------------------------------------------------------------------------


def retryable_status(status: int) -> bool:
    """429 and 5xx are worth trying again later; any other 4xx never."""
    return status == 429 or status >= 500


def not_sent(error: str) -> SendOutcome:
    """A reply that was never sent: the account cannot send it (no token, no sender…)."""
    return SendOutcome(delivered=False, error=error)


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` (a token) replaced by ``[redacted]``."""
    return text.replace(secret, "[redacted]") if secret else text


@overload
def json_object(response: httpx.Response) -> dict[str, Any]: ...
@overload
def json_object(response: httpx.Response, *, or_none: Literal[True]) -> dict[str, Any] | None: ...
def json_object(response: httpx.Response, *, or_none: bool = False) -> dict[str, Any] | None:
    """A send API's answer as a JSON object. When it is not one: ``{}``, or None with
    ``or_none`` (for a caller that must tell an answer that is no object from an empty one)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        return body
    return None if or_none else {}
