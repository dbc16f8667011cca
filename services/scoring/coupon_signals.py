"""Between `scrm.coupons.v1` and the model: the fans a red-packet event names, and the signal
each of them gets (`scores/state.py`). Pure: the caller keeps the friends' pairs and profiles.

- `ShareClaimed`: the claimer (`fan_key`) claimed a coupon (`CouponClaimed`, at the event's
  time); the packet's owner (`referrer_fan_key`) had a share claimed by a friend
  (`FriendClaimed`), that friend's first when the pair (owner, claimer) was not kept before. A
  fan who claims a share of their own packet claims a coupon, and is no friend of theirs.
- `ReferralRewarded`: a customer the referrer (`fan_key`) brought paid their first order
  (`ReferredFirstOrder`, of `order_cents`; 0 when the event does not tell).
- `ReferralRewardRevoked`: that first order was refunded (`ReferredFirstOrderRefunded`, of
  `order_cents`): the referrer's social value no longer counts it.

The other coupon events (packets issued, coupons redeemed or reversed) carry nothing the model
reads. Every signal is a count or a sum, and a friend's first claim is told by the pair's
absence from the kept pairs, not by arrival: the same events in any order, batches and number
of deliveries give the same profiles.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from services.scoring.domain import EMPTY_STATE, ProfileRow, ScoringModel
from services.scoring.scores.state import (
    CouponClaimed,
    FriendClaimed,
    ReferredFirstOrder,
    ReferredFirstOrderRefunded,
    Signal,
    apply_signal,
)
from shared.contracts import (
    MAX_FAN_KEY,
    Platform,
    ReferralRewarded,
    ReferralRewardRevoked,
    ShareClaimed,
)
from shared.events import CloudEvent

ScoredCouponEvent = ShareClaimed | ReferralRewarded | ReferralRewardRevoked
SCORED_COUPON_TYPES = (ShareClaimed, ReferralRewarded, ReferralRewardRevoked)
FriendPair = tuple[str, str]  # the referrer's fan key, the friend's
PLATFORMS = frozenset(get_args(Platform))
MAX_ACCOUNT = 200  # as the profiles' column and the contracts' ids


@dataclass(frozen=True)
class FanSignal:
    """A signal for one fan, the time it happened at, and the event it came from."""

    signal: Signal
    at: datetime
    event_id: str


def fans_named(events: Sequence[CloudEvent[ScoredCouponEvent]]) -> list[str]:
    """Every fan the events name, once, in key order. A name that is no fan key is refused
    (ValueError) here, before anything is kept of the batch: the event is dead-lettered, not
    made into a profile or a friend."""
    named = set()
    for event in events:
        named.add(event.data.fan_key)
        if isinstance(event.data, ShareClaimed):
            named.add(event.data.referrer_fan_key)
    for fan_key in named:
        split_fan_key(fan_key)
    return sorted(named)


def split_fan_key(fan_key: str) -> tuple[str, str, str]:
    """The platform, account and user of `platform:account:user`. A user id may hold `:`, a
    brand account not (ingest refuses it), so the account is the part between the first two."""
    platform, _, rest = fan_key.partition(":")
    account, _, user = rest.partition(":")
    if (platform not in PLATFORMS or not account or not user or len(account) > MAX_ACCOUNT
            or len(fan_key) > MAX_FAN_KEY):  # fmt: skip
        raise ValueError("a coupon event names a fan that is not platform:account:user")
    return platform, account, user


def friend_pairs(events: Sequence[CloudEvent[ScoredCouponEvent]]) -> list[FriendPair]:
    """The (referrer, friend) pairs of the batch's claims, each once, in key order."""
    return sorted(
        {
            (event.data.referrer_fan_key, event.data.fan_key)
            for event in events
            if isinstance(event.data, ShareClaimed)
            and event.data.referrer_fan_key != event.data.fan_key
        }
    )


def signals_by_fan(
    events: Sequence[CloudEvent[ScoredCouponEvent]], *, new_pairs: Collection[FriendPair]
) -> dict[str, list[FanSignal]]:
    """Each named fan's signals. Of the claims of a pair that was new to the kept pairs
    (`new_pairs`), one is that friend's first; the others, and those of known pairs, are not."""
    unreached = set(new_pairs)
    by_fan: defaultdict[str, list[FanSignal]] = defaultdict(list)
    for event in events:
        for fan_key, signal in _signals(event.data, event.time, unreached):
            by_fan[fan_key].append(FanSignal(signal, event.time, event.id))
    return dict(by_fan)


def _signals(
    data: ScoredCouponEvent, at: datetime, unreached: set[FriendPair]
) -> list[tuple[str, Signal]]:
    """The event's signals; takes the claim's pair out of `unreached` once it is reached."""
    match data:
        case ShareClaimed(fan_key=friend, referrer_fan_key=owner) if owner != friend:
            first = (owner, friend) in unreached
            unreached.discard((owner, friend))
            return [(friend, CouponClaimed(at)), (owner, FriendClaimed(first_from_friend=first))]
        case ShareClaimed(fan_key=claimer):
            return [(claimer, CouponClaimed(at))]
        case ReferralRewarded(fan_key=referrer, order_cents=cents):
            return [(referrer, ReferredFirstOrder(amount_cents=cents or 0))]
        case ReferralRewardRevoked(fan_key=referrer, order_cents=cents):
            return [(referrer, ReferredFirstOrderRefunded(amount_cents=cents or 0))]
    return []


def profile_of(fan_key: str, *, at: datetime, now: datetime) -> ProfileRow:
    """The new profile of a fan a coupon event names first, seen first and last at `at`."""
    platform, account, _ = split_fan_key(fan_key)
    return ProfileRow(
        fan_key=fan_key, platform=platform, account=account, first_seen_at=at, last_seen_at=at,
        state=EMPTY_STATE, scored_at=now,
    )  # fmt: skip


def signalled(row: ProfileRow, signals: Sequence[FanSignal], model: ScoringModel) -> ProfileRow:
    """`row` with the signals folded in, and seen at their times: a profile's first and last
    seen times span every event that named the fan, whichever topic brought it first."""
    time_zone = model.rules(row.platform, row.account).time_zone
    for item in signals:
        state = apply_signal(row.state, item.signal, policy=model.policy, time_zone=time_zone)
        row = row.changed(state=state).seen_at(item.at)
    return row
