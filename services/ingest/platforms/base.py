"""What every platform adapter provides, and the request it works on.

An adapter knows one platform's wire format and nothing else: its verification handshake, its
signature over the exact raw bytes, its decryption, its payload shapes, and how each becomes a
canonical v1 event. The intake (``services.ingest.service``) does the rest for every platform
alike: account lookup, size limits, de-duplication, producing, recording refusals.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar, Generic, Protocol, Self, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.contracts import FanEvent, ReplyRequested
from shared.events import CloudEvent

# No ":", the separator of the fan key platform:account:user, so that a key reads one way only
# ("shop-a" and fan "vip:7" against "shop-a:vip" and fan "7"), and no control character.
ACCOUNT_ID_PATTERN = r"^[^:\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class PlatformAccount(BaseModel):
    """A brand account on one platform. Subclasses add the platform's secrets as SecretStr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str
    account_id: str = Field(min_length=1, max_length=200, pattern=ACCOUNT_ID_PATTERN)

    @model_validator(mode="after")
    def _no_empty_secret(self) -> Self:
        """An empty key makes every HMAC public: a template that expanded to nothing must not
        become an account anyone can sign for."""
        empty = [name for name, value in self if isinstance(value, SecretStr)
                 and not value.get_secret_value().strip()]  # fmt: skip
        if empty:
            raise ValueError(f"empty secret: {', '.join(empty)}")
        return self

    @model_validator(mode="after")
    def _printable_ids(self) -> Self:
        """The account's ids (its secrets are sealed) are stored as JSON, which PostgreSQL refuses
        with a NUL in it; no other control character has a place in an id either."""
        control = [name for name, value in self
                   if isinstance(value, str) and _CONTROL.search(value)]  # fmt: skip
        if control:
            raise ValueError(f"control character in: {', '.join(control)}")
        return self


@dataclass(frozen=True)
class InboundRequest:
    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    received_at: datetime  # timezone-aware UTC


@dataclass(frozen=True)
class PlatformAnswer:
    """What the platform gets back: the handshake echo, or the acknowledgement it expects."""

    status_code: int = 200
    body: bytes = b""
    media_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)


def echo(body: bytes, *, media_type: str = "text/plain") -> PlatformAnswer:
    """A handshake's answer, which repeats what the request carried: never sniffed as HTML."""
    return PlatformAnswer(
        body=body, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"}
    )


class VerificationError(Exception):
    """The request is not provably from the platform (401). `reason` is stable; str() is prose."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MalformedPayload(Exception):
    """Authentic, but not a payload this adapter can read (400)."""


AccountT = TypeVar("AccountT", bound=PlatformAccount, contravariant=True)
OK = PlatformAnswer()


class PlatformAdapter(Protocol, Generic[AccountT]):
    platforms: ClassVar[tuple[str, ...]]  # what the webhook path says: /v1/webhooks/{platform}/…
    account_model: ClassVar[type[PlatformAccount]]
    # what of a request proves it or carries a secret: redacted when a refusal is recorded
    secret_headers: ClassVar[frozenset[str]]  # lower-case names
    secret_query: ClassVar[frozenset[str]]

    def handshake(self, account: AccountT, request: InboundRequest) -> PlatformAnswer:
        """Answer the platform's URL verification (a GET); raise VerificationError if forged."""
        ...

    def verify(self, account: AccountT, request: InboundRequest) -> bytes | None:
        """Check a push's signature over ``request.body`` exactly as received. Where the
        platform encrypts, returns the opened message (``normalise`` then reads that as the
        body: see `verify_push`); else None."""
        ...

    def normalise(
        self, account: AccountT, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        """The canonical events in a push `verify_push` returned (several for batched platforms;
        none for kinds the system does not use). Raises MalformedPayload."""
        ...

    def acknowledge(
        self, account: AccountT, request: InboundRequest, events: Sequence[CloudEvent[FanEvent]]
    ) -> PlatformAnswer:
        """The success answer the platform expects (WeChat: ``success``), once Kafka has the
        events."""
        ...


@runtime_checkable
class SignsWithoutBody(Protocol[AccountT]):
    """What an adapter adds when its platform signs some requests without their body (WeChat's
    plain mode and URL checks, Weibo): within its timestamp window such a signature, once seen,
    would carry any body. The intake remembers the body each one first came with (in
    PostgreSQL, for every replica) and refuses it with another (401 ``replayed``)."""

    def signed_without_body(self, account: AccountT, request: InboundRequest) -> str | None:
        """For a request this adapter has verified: the signature, spelled one way whatever the
        request's spelling, when it does not cover the body; else None. No I/O."""
        ...


def verify_push(
    adapter: PlatformAdapter[AccountT], account: AccountT, request: InboundRequest
) -> InboundRequest:
    """Verify a push (raises VerificationError); returns it with the body its adapter vouched
    for: the opened message where the platform encrypts, so nothing is decrypted twice."""
    opened = adapter.verify(account, request)
    return request if opened is None else replace(request, body=opened)


def no_handshake(request: InboundRequest) -> PlatformAnswer:
    """For platforms without a GET verification."""
    raise VerificationError(
        "unsupported", f"{request.method} is not part of this platform's protocol"
    )


class FixedAcknowledgement:
    """For an adapter whose success answer is the same whatever the push held: it sets
    ``acknowledgement`` where its platform expects more than an empty 200."""

    acknowledgement: ClassVar[PlatformAnswer] = OK

    def acknowledge(
        self, account: PlatformAccount, request: InboundRequest,
        events: Sequence[CloudEvent[FanEvent]],
    ) -> PlatformAnswer:  # fmt: skip
        return self.acknowledgement


@dataclass(frozen=True)
class SendOutcome:
    """What the platform's send API answered to one reply."""

    delivered: bool
    status_code: int | None = None
    platform_message_id: str | None = None
    error: str | None = None
    retryable: bool = False  # 429, 5xx, timeouts: try again later; other 4xx: never


class ReplySender(Protocol, Generic[AccountT]):
    """The outbound half of an adapter: send one reply through the platform's send API."""

    platforms: ClassVar[tuple[str, ...]]
    default_send_base_url: ClassVar[str]

    async def send(
        self, account: AccountT, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One attempt. Raise nothing for an HTTP answer; `httpx.TransportError` may propagate
        (the worker treats it as retryable)."""
        ...
