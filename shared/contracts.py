"""The v1 event contracts: one frozen model per CloudEvents type, and the topic each travels on.

A change that breaks old readers gets a new type with a new version suffix; `make schemas` exports
the JSON Schema of every type to ``shared/schemas/``.

Ids and money are bounded by what the consumers store (``varchar(200)`` ids, a ``varchar(400)``
fan key, ``bigint`` cents, ISO 4217 currencies) and ids hold no control character (PostgreSQL
refuses NUL): an event out of bounds is refused where ingest builds it (400), not dead-lettered by
every consumer. v1 was narrowed in place, not replaced by a v2: what it now refuses could never be
stored (NUL, cents beyond int64, a fan key over 400) or came from hostile input only (other
control characters, a currency that is no ISO code), so such an event still on Kafka is
dead-lettered at decode, as the database refused it before, its bytes kept. ``:`` stays allowed
in ``account`` for the events read before brand accounts refused it (``PlatformAccount``).
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal, NotRequired, Self, TypedDict

from pydantic import AwareDatetime, Field, model_validator

from shared import topics
from shared.contract_types import MAX_FAN_KEY as MAX_FAN_KEY
from shared.contract_types import PRINTABLE as PRINTABLE
from shared.contract_types import Cents as Cents
from shared.contract_types import Currency as Currency
from shared.contract_types import Id as Id
from shared.contract_types import MessageType as MessageType
from shared.contract_types import Platform as Platform
from shared.contract_types import Ref as Ref
from shared.coupon_contracts import CouponEvent as CouponEvent
from shared.coupon_contracts import CouponRedeemed as CouponRedeemed
from shared.coupon_contracts import CouponReversed as CouponReversed
from shared.coupon_contracts import CouponUse as CouponUse
from shared.coupon_contracts import PacketExpired as PacketExpired
from shared.coupon_contracts import PacketIssued as PacketIssued
from shared.coupon_contracts import PacketReturned as PacketReturned
from shared.coupon_contracts import PacketWithdrawn as PacketWithdrawn
from shared.coupon_contracts import ReferralRewarded as ReferralRewarded
from shared.coupon_contracts import ReferralRewardRevoked as ReferralRewardRevoked
from shared.coupon_contracts import ShareClaimed as ShareClaimed
from shared.events import EventData, fan_key, register
from shared.sla_contracts import SlaBreached as SlaBreached
from shared.sla_contracts import SlaEvent as SlaEvent
from shared.sla_contracts import SlaMet as SlaMet
from shared.sla_contracts import SlaPaused as SlaPaused
from shared.sla_contracts import SlaResumed as SlaResumed
from shared.sla_contracts import SlaStarted as SlaStarted
from shared.sla_contracts import SlaTarget as SlaTarget
from shared.sla_contracts import SlaWarning as SlaWarning


class MediaRef(EventData):
    kind: Literal["image", "voice", "video", "file", "sticker", "location", "link"]
    platform_media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None


IdentifierKind = Literal["customer_id", "phone_sha256", "unionid"]


class FanIdentifiers(EventData):
    """What a payload says of the person behind a platform identity. Scoring links the
    identities of a brand's fans that carry the same one into one person."""

    customer_id: Id | None = Field(default=None, description="the brand's shop's customer id")
    phone_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the phone number in E.164 (+8613800000000), lower-case hex",
    )
    unionid: Id | None = Field(default=None, description="WeChat's UnionID")

    def pairs(self) -> list[tuple[IdentifierKind, str]]:
        """The identifiers given, as (kind, value)."""
        given: tuple[tuple[IdentifierKind, str | None], ...] = (
            ("customer_id", self.customer_id), ("phone_sha256", self.phone_sha256),
            ("unionid", self.unionid),
        )  # fmt: skip
        return [(kind, value) for kind, value in given if value]


class FanFields(TypedDict):
    """What every FanEvent carries, gathered once per push and spread into each contract built
    from it (``MessageReceived(**fields, message_id=…)``): typed, so a misspelt or missing
    field is a type error, not a runtime surprise."""

    platform: Platform
    account: str
    user_id: str
    occurred_at: datetime
    platform_event_id: NotRequired[str | None]
    thread_ref: NotRequired[str | None]
    follower_count: NotRequired[int | None]
    identifiers: NotRequired[FanIdentifiers | None]


class FanEvent(EventData):
    """Something a fan did on a platform, towards one brand account."""

    topic: ClassVar[str] = topics.EVENTS

    platform: Platform
    account: Id = Field(description="the brand account on the platform")
    user_id: Id = Field(description="the fan's id on the platform")
    platform_event_id: Ref | None = None
    occurred_at: AwareDatetime
    thread_ref: Ref | None = Field(default=None, description="conversation or thread reference")
    follower_count: int | None = Field(default=None, ge=0)
    identifiers: FanIdentifiers | None = Field(
        default=None, description="identifiers that link this identity to the person's others"
    )

    @property
    def fan_key(self) -> str:
        return fan_key(self.platform, self.account, self.user_id)

    @model_validator(mode="after")
    def _fan_key_fits(self) -> Self:
        if len(self.fan_key) > MAX_FAN_KEY:
            raise ValueError(f"the fan key is longer than {MAX_FAN_KEY} characters")
        return self


@register
class MessageReceived(FanEvent):
    event_type = "scrm.message.received.v1"

    message_id: Ref
    message_type: MessageType = "text"
    text: str | None = None
    media: tuple[MediaRef, ...] = ()
    language: str | None = None


@register
class CommentCreated(FanEvent):
    event_type = "scrm.comment.created.v1"

    comment_id: Ref
    post_id: Ref | None = None
    text: str | None = None
    is_mention: bool = False


@register
class ReactionAdded(FanEvent):
    event_type = "scrm.reaction.added.v1"

    target_id: Ref
    reaction: str


@register
class ContentShared(FanEvent):
    event_type = "scrm.content.shared.v1"

    content_id: Ref
    reach: int | None = Field(default=None, ge=0)


@register
class FanFollowed(FanEvent):
    event_type = "scrm.fan.followed.v1"


@register
class FanUnfollowed(FanEvent):
    event_type = "scrm.fan.unfollowed.v1"


@register
class OrderPaid(FanEvent):
    event_type = "scrm.order.paid.v1"

    order_id: Id
    amount_cents: Cents
    currency: Currency
    referral_code: Ref | None = None


@register
class OrderRefunded(FanEvent):
    event_type = "scrm.order.refunded.v1"

    order_id: Id
    amount_cents: Cents
    currency: Currency


@register
class ReplyDelivered(FanEvent):
    event_type = "scrm.reply.delivered.v1"

    reply_id: Id
    platform_message_id: str | None = None  # as the send API answered


@register
class ReplyFailed(FanEvent):
    event_type = "scrm.reply.failed.v1"

    reply_id: Id
    status_code: int | None = None
    error: str


@register
class ReplyRequested(EventData):
    """An agent's answer, to be sent out through the platform's send API."""

    event_type = "scrm.reply.requested.v1"
    topic: ClassVar[str] = topics.REPLIES

    reply_id: Id
    conversation_id: str
    platform: Platform
    account: Id
    user_id: Id
    text: str = Field(min_length=1)
    in_reply_to: Annotated[str, Field(max_length=200, pattern=PRINTABLE)] | None = None
    agent_id: str | None = None


@register
class ProfileUpdated(EventData):
    event_type = "scrm.profile.updated.v1"
    topic: ClassVar[str] = topics.PROFILES

    fan_key: str
    interaction_count: int = Field(ge=0)
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    tier: Literal["silent", "occasional", "frequent", "leader"] = "silent"
    role: Literal["consumer", "kol", "employee"] = "consumer"
    priority: int = Field(default=0, ge=0, le=100)
    tags: tuple[str, ...] = ()
    # Added compatibly: absent in the snapshots written before scores were kept.
    platform: Platform | None = None
    account: str | None = Field(default=None, description="the brand account on the platform")
    lifecycle: Literal["new", "active", "at_risk", "lapsed"] | None = None
    engagement: Decimal | None = Field(default=None, ge=0, description="points, hundredths")
    influence: Decimal | None = Field(default=None, ge=0, description="points, hundredths")
    wallet_value: int | None = Field(default=None, ge=0, le=100)
    social_value: int | None = Field(default=None, ge=0, le=100)
    person_key: str | None = Field(
        default=None,
        description="the person this identity is linked to (the least fan key of its "
        "identities); None: an identity on its own",
    )


FanKey = Annotated[str, Field(min_length=1, max_length=MAX_FAN_KEY, pattern=PRINTABLE)]
ManualTag = Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)]
OperatorName = Annotated[str, Field(max_length=200, pattern=PRINTABLE)]


class OperatorDecision(EventData):
    """What an operator decided about a fan through scoring's API. It travels on its own topic
    so that a replay of the topics gives the same profiles, decisions included."""

    topic: ClassVar[str] = topics.OPERATOR

    fan_key: FanKey
    decided_at: AwareDatetime
    operator: OperatorName | None = None


@register
class FanLabelled(OperatorDecision):
    """The fan's labels set by hand, as a whole: a role that wins over the computed one (None:
    computed again) and tags kept beside the computed ones."""

    event_type = "scrm.fan.labelled.v1"

    role: Literal["consumer", "kol", "employee"] | None = None
    tags: tuple[ManualTag, ...] = Field(default=(), max_length=50)


@register
class FanMerged(OperatorDecision):
    """These identities are one person's, with `fan_key`'s: until an unmerge of one of them
    decided later."""

    event_type = "scrm.fan.merged.v1"

    other_fan_keys: tuple[FanKey, ...] = Field(min_length=1, max_length=20)


@register
class FanUnmerged(OperatorDecision):
    """`fan_key` stands on its own again: the merges of it decided before are undone, and the
    identifiers it carries no longer link it (a merge decided later links it again)."""

    event_type = "scrm.fan.unmerged.v1"


@register
class IngestRejected(EventData):
    """A webhook request ingest refused, kept (size-capped, secrets redacted) for inspection."""

    event_type = "scrm.ingest.rejected.v1"
    topic: ClassVar[str] = topics.INGEST_REJECTED

    platform: str
    account: str | None
    reason: str = Field(
        max_length=40,
        description="signature, stale_timestamp, malformed, unknown_account, too_large, "
        "unsupported",
    )
    status_code: int
    detail: str
    received_at: AwareDatetime
    request_headers: dict[str, str]
    body_excerpt: str = Field(description="the first bytes of the body, as text")
    body_size: int = Field(ge=0)


def topic_of(data: EventData) -> str:
    """The topic an event type travels on (a class attribute of the contract)."""
    topic: str = getattr(type(data), "topic", topics.EVENTS)
    return topic
