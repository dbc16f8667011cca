"""A person's state: the states of their linked identities added together.

Every part of a fan's state is a count, a sum, an extreme, a union or a latest observation, so
the person's is the same kind of sum: counts and sums add (engagement as each identity's scores
read it, its daily caps applied: a flood on one channel weighs no more in the person), first
times are the earliest, last times the latest, tags the union. Reach adds: each identity's
followers are another platform's audience. The result depends only on which states are added,
not on their order."""

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from functools import reduce
from typing import TypeVar

from msgspec.structs import replace

from services.scoring.scores.engagement import EngagementPolicy, EngagementState, capped_units
from services.scoring.scores.facts import Activity, Amplification, Audience, Purchases, Referrals
from services.scoring.scores.state import FanState

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T", datetime, date)


def combined(states: Iterable[FanState], policy: EngagementPolicy) -> FanState:
    """The person's state from the states of their identities (at least one)."""
    return reduce(_plus, (_capped(state, policy) for state in states))


def _capped(state: FanState, policy: EngagementPolicy) -> FanState:
    """The state with its engagement days capped and folded: what its scores read of them."""
    engagement = EngagementState(
        latest_day=state.engagement.latest_day, folded=capped_units(state.engagement, policy)
    )
    return replace(state, engagement=engagement)


def _plus(one: FanState, other: FanState) -> FanState:
    return FanState(
        activity=_activity(one.activity, other.activity),
        engagement=_engagement(one.engagement, other.engagement),
        audience=_audience(one.audience, other.audience),
        amplification=Amplification(
            shares=one.amplification.shares + other.amplification.shares,
            share_reach=one.amplification.share_reach + other.amplification.share_reach,
            mentions=one.amplification.mentions + other.amplification.mentions,
        ),
        referrals=_referrals(one.referrals, other.referrals),
        purchases=_purchases(one.purchases, other.purchases),
        rule_tags=one.rule_tags | other.rule_tags,
    )


def _referrals(one: Referrals, other: Referrals) -> Referrals:
    """Counts add; of each identity's refunds, those of its own orders (a refund read before
    its order is not taken from another identity's): the person keeps the sum of what its
    identities keep."""
    return Referrals(
        friend_claims=one.friend_claims + other.friend_claims,
        friends_reached=one.friends_reached + other.friends_reached,
        first_orders=one.first_orders + other.first_orders,
        first_order_cents=one.first_order_cents + other.first_order_cents,
        refunded_orders=sum(min(r.refunded_orders, r.first_orders) for r in (one, other)),
        refunded_cents=sum(min(r.refunded_cents, r.first_order_cents) for r in (one, other)),
    )


def _activity(one: Activity, other: Activity) -> Activity:
    return Activity(
        first_seen=_extreme(min, one.first_seen, other.first_seen),
        last_active=_extreme(max, one.last_active, other.last_active),
        local_hours=tuple(a + b for a, b in zip(one.local_hours, other.local_hours, strict=True)),
    )


def _audience(one: Audience, other: Audience) -> Audience:
    if one.follower_count is None:
        return other
    if other.follower_count is None:
        return one
    return Audience(
        follower_count=one.follower_count + other.follower_count,
        observed_at=_extreme(max, one.observed_at, other.observed_at),
    )


def _engagement(one: EngagementState, other: EngagementState) -> EngagementState:
    """Each identity's days capped (as its own scores read them) and added: a flood on one
    channel weighs no more in the person than in the identity."""
    return EngagementState(
        latest_day=_extreme(max, one.latest_day, other.latest_day),
        folded=_added(one.folded, other.folded, int.__add__),
    )


def _purchases(one: Purchases, other: Purchases) -> Purchases:
    return Purchases(
        paid_orders=one.paid_orders + other.paid_orders,
        refunds=one.refunds + other.refunds,
        net_cents=_added(one.net_cents, other.net_cents, int.__add__),
        first_paid_at=_extreme(min, one.first_paid_at, other.first_paid_at),
        last_paid_at=_extreme(max, one.last_paid_at, other.last_paid_at),
        coupon_claims=one.coupon_claims + other.coupon_claims,
    )


def _added(one: Mapping[K, V], other: Mapping[K, V], add: Callable[[V, V], V]) -> dict[K, V]:
    """Both mappings' entries, those in both added with `add`, in key order."""
    return {
        key: add(one[key], other[key]) if key in one and key in other
        else one[key] if key in one else other[key]
        for key in sorted({*one, *other}, key=str)
    }  # fmt: skip


def _extreme(pick: Callable[[T, T], T], one: T | None, other: T | None) -> T | None:
    if one is None:
        return other
    if other is None:
        return one
    return pick(one, other)
