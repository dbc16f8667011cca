"""A fan's state, and how each signal changes it.

Every change is a count, a sum, a min or max, a union, or a latest-by-time observation, and
engagement is a forward-decayed sum: the state after a set of signals does not depend on the
order they arrived in (engagement: within its fold horizon, see `engagement`). Applying the
same event twice counts it twice; the caller claims event ids first.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import msgspec
from msgspec.structs import replace

from services.scoring.scores.engagement import EngagementState, InteractionKind, apply_interaction
from services.scoring.scores.explain import FrozenStruct
from services.scoring.scores.facts import Activity, Amplification, Audience, Purchases, Referrals
from services.scoring.scores.policy import ScoringPolicy
from services.scoring.scores.tags import rule_tags
from shared.contracts import (
    CommentCreated,
    ContentShared,
    FanEvent,
    FanFollowed,
    MessageReceived,
    OrderPaid,
    OrderRefunded,
    ReactionAdded,
)


@dataclass(frozen=True)
class CouponClaimed:
    """This fan claimed a share of someone's red packet (a coupon)."""

    at: datetime


@dataclass(frozen=True)
class FriendClaimed:
    """A friend claimed a share of this fan's red packet; `first_from_friend` when no share of
    this fan's packets went to that friend before (the caller knows the pairs)."""

    first_from_friend: bool


@dataclass(frozen=True)
class ReferredFirstOrder:
    """A customer this fan referred paid their first order."""

    amount_cents: int


@dataclass(frozen=True)
class ReferredFirstOrderRefunded:
    """That first order was refunded (its referral reward revoked): taken back."""

    amount_cents: int


Signal = FanEvent | CouponClaimed | FriendClaimed | ReferredFirstOrder | ReferredFirstOrderRefunded


class FanState(FrozenStruct, frozen=True):
    activity: Activity = Activity()
    engagement: EngagementState = EngagementState()
    audience: Audience = Audience()
    amplification: Amplification = Amplification()
    referrals: Referrals = Referrals()
    purchases: Purchases = Purchases()
    rule_tags: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return _ENCODER.encode(self).decode()

    @staticmethod
    def from_json(text: str | bytes) -> "FanState":
        """The state as `to_json` wrote it (or pydantic did before), checked as it is read."""
        return _DECODER.decode(text)

    @staticmethod
    def from_dict(value: object) -> "FanState":
        return msgspec.convert(value, FanState)


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(FanState)


def interaction_kind(event: FanEvent) -> InteractionKind | None:
    """A comment that mentions the brand is a mention (and not a comment too)."""
    reads = _reads(type(event))
    if reads.comment:
        return "mention" if event.is_mention else "comment"  # type: ignore[attr-defined]
    return reads.kind


# Each kind's events; a comment's kind depends on the comment.
KINDS: tuple[tuple[type[FanEvent], InteractionKind], ...] = (
    (MessageReceived, "message"),
    (ReactionAdded, "reaction"),
    (ContentShared, "share"),
    (FanFollowed, "follow"),
)


class _Reads(NamedTuple):
    """What the fold reads of the events of one type."""

    action: bool  # a fan's action (FAN_ACTIONS)
    comment: bool  # a comment: its kind depends on it
    kind: InteractionKind | None  # otherwise its kind, if it is an interaction
    counted: bool  # `_counted` may count it
    tagged: bool  # `_tagged` may tag it


@functools.cache
def _reads(event_type: type[FanEvent]) -> _Reads:
    """Asked once per type: every isinstance() of a contract goes through ABCMeta, and a fold
    asked a dozen of them per event."""

    def of(*classes: type[FanEvent]) -> bool:
        return issubclass(event_type, classes)

    comment = of(CommentCreated) and not of(MessageReceived)
    return _Reads(
        action=of(*FAN_ACTIONS),
        comment=comment,
        kind=next((kind for cls, kind in KINDS if of(cls)), None),
        counted=of(ContentShared, CommentCreated, OrderPaid, OrderRefunded),
        tagged=of(MessageReceived, CommentCreated),
    )


def apply_signal(
    state: FanState, signal: Signal, *, policy: ScoringPolicy, time_zone: ZoneInfo
) -> FanState:
    """The state after one more signal; `time_zone` is the brand's (for hours of the day)."""
    match signal:
        case CouponClaimed(at=at):
            activity = state.activity.active(at.astimezone(UTC))
            purchases = state.purchases.coupon_claimed()
            return replace(state, purchases=purchases, activity=activity)
        case FriendClaimed(first_from_friend=first):
            return replace(state, referrals=state.referrals.claimed(first))
        case ReferredFirstOrder(amount_cents=cents):
            return replace(state, referrals=state.referrals.ordered(cents))
        case ReferredFirstOrderRefunded(amount_cents=cents):
            return replace(state, referrals=state.referrals.refunded(cents))
    return _apply_fan_event(state, signal, policy=policy, time_zone=time_zone)


# What the fan does; a reply the brand sent or an unfollow does not make a fan active.
FAN_ACTIONS = (
    MessageReceived,
    CommentCreated,
    ReactionAdded,
    ContentShared,
    FanFollowed,
    OrderPaid,
)


def _apply_fan_event(
    state: FanState, event: FanEvent, *, policy: ScoringPolicy, time_zone: ZoneInfo
) -> FanState:
    at = event.occurred_at.astimezone(UTC)  # stored times are UTC, whatever the platform sent
    reads = _reads(type(event))
    # The changed parts, gathered and copied into the state once: a copy per part cost more
    # than the changes.
    update: dict[str, object] = {}
    if event.follower_count is not None:
        update["audience"] = state.audience.observed(event.follower_count, at)
    activity = state.activity.active(at) if reads.action else state.activity
    kind = interaction_kind(event)
    if kind is not None:
        update["engagement"] = apply_interaction(state.engagement, kind, at, policy.engagement)
        activity = activity.interacted(at.astimezone(time_zone).hour)
    if activity is not state.activity:
        update["activity"] = activity
    if reads.counted:  # the others count nothing
        update.update(_counted(state, event))
    if reads.tagged:  # the others carry no text
        update.update(_tagged(state, event, policy))
    return replace(state, **update) if update else state


def _counted(state: FanState, event: FanEvent) -> dict[str, object]:
    match event:
        case ContentShared(reach=reach):
            return {"amplification": state.amplification.shared(reach)}
        case CommentCreated(is_mention=True):
            return {"amplification": state.amplification.mentioned()}
        case OrderPaid(amount_cents=cents, currency=currency, occurred_at=at):
            return {"purchases": state.purchases.paid(cents, currency, at)}
        case OrderRefunded(amount_cents=cents, currency=currency):
            return {"purchases": state.purchases.refunded(cents, currency)}
    return {}


def _tagged(state: FanState, event: FanEvent, policy: ScoringPolicy) -> dict[str, object]:
    match event:
        case MessageReceived(text=str(text)) | CommentCreated(text=str(text)):
            found = rule_tags(text, policy.tag_rules)
            if found - state.rule_tags:
                return {"rule_tags": state.rule_tags | found}
    return {}
