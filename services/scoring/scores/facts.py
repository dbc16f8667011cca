"""What the model remembers of a fan besides engagement: counts, sums, extremes and the latest
observation, each kept so that the order events arrive in does not change it."""

from datetime import datetime
from typing import Annotated

from msgspec import Meta, field
from msgspec.structs import replace

from services.scoring.scores.explain import FrozenStruct

HOURS_A_DAY = 24
Count = Annotated[int, Meta(ge=0)]


def _earliest(known: datetime | None, at: datetime) -> datetime:
    return at if known is None else min(known, at)


def _latest(known: datetime | None, at: datetime) -> datetime:
    return at if known is None else max(known, at)


class Activity(FrozenStruct, frozen=True):
    """When the fan was first and last active, and at what hours (in the brand's time zone)
    they interact."""

    first_seen: datetime | None = None
    last_active: datetime | None = None
    local_hours: Annotated[
        tuple[int, ...], Meta(min_length=HOURS_A_DAY, max_length=HOURS_A_DAY)
    ] = (0,) * HOURS_A_DAY

    def active(self, at: datetime) -> "Activity":
        first, last = _earliest(self.first_seen, at), _latest(self.last_active, at)
        return replace(self, first_seen=first, last_active=last)

    def interacted(self, local_hour: int) -> "Activity":
        hours = list(self.local_hours)
        hours[local_hour] += 1
        return replace(self, local_hours=tuple(hours))

    @property
    def interactions(self) -> int:
        return sum(self.local_hours)


class Audience(FrozenStruct, frozen=True):
    """The fan's follower count as last reported (latest by event time; a tie keeps the
    larger count)."""

    follower_count: Count | None = None
    observed_at: datetime | None = None

    def observed(self, follower_count: int, at: datetime) -> "Audience":
        known = self.observed_at, self.follower_count
        if known[0] is not None and known[1] is not None and (at, follower_count) <= known:
            return self
        return Audience(follower_count=follower_count, observed_at=at)


class Amplification(FrozenStruct, frozen=True):
    """What the fan passed on: shares (with the reach the platform reported, unknown
    counting 0) and mentions of the brand."""

    shares: Count = 0
    share_reach: Count = 0
    mentions: Count = 0

    def shared(self, reach: int | None) -> "Amplification":
        reach_now = self.share_reach + (reach or 0)
        return replace(self, shares=self.shares + 1, share_reach=reach_now)

    def mentioned(self) -> "Amplification":
        return replace(self, mentions=self.mentions + 1)


class Referrals(FrozenStruct, frozen=True):
    """What the fan's red packets brought others to do."""

    friend_claims: Count = 0  # shares of their packets claimed
    friends_reached: Count = 0  # distinct friends who claimed
    first_orders: Count = 0  # first orders of referred friends
    first_order_cents: Count = 0
    refunded_orders: Count = 0  # of those first orders, refunded (their rewards revoked)
    refunded_cents: Count = 0

    def claimed(self, first_from_friend: bool) -> "Referrals":
        reached = self.friends_reached + int(first_from_friend)
        return replace(self, friend_claims=self.friend_claims + 1, friends_reached=reached)

    def ordered(self, amount_cents: int) -> "Referrals":
        cents = self.first_order_cents + amount_cents
        return replace(self, first_orders=self.first_orders + 1, first_order_cents=cents)

    def refunded(self, amount_cents: int) -> "Referrals":
        """A first order taken back. Counted apart, as sums, so any order of grants and refunds
        ends the same. (coupons keys both by the referrer, so a refund is read after its order;
        a shuffled log that reads it first scores the difference as zero meanwhile.)"""
        cents = self.refunded_cents + amount_cents
        return replace(self, refunded_orders=self.refunded_orders + 1, refunded_cents=cents)

    @property
    def kept_orders(self) -> int:
        """First orders of referred friends not refunded."""
        return max(self.first_orders - self.refunded_orders, 0)

    @property
    def kept_order_cents(self) -> int:
        return max(self.first_order_cents - self.refunded_cents, 0)


class Purchases(FrozenStruct, frozen=True):
    """The fan's own orders (net of refunds, per currency) and the coupons they claimed."""

    paid_orders: Count = 0
    refunds: Count = 0
    net_cents: dict[str, int] = field(default_factory=dict)
    first_paid_at: datetime | None = None
    last_paid_at: datetime | None = None
    coupon_claims: Count = 0

    def paid(self, amount_cents: int, currency: str, at: datetime) -> "Purchases":
        return replace(
            self,
            paid_orders=self.paid_orders + 1,
            net_cents=self._plus(currency, amount_cents),
            first_paid_at=_earliest(self.first_paid_at, at),
            last_paid_at=_latest(self.last_paid_at, at),
        )

    def refunded(self, amount_cents: int, currency: str) -> "Purchases":
        net = self._plus(currency, -amount_cents)
        return replace(self, refunds=self.refunds + 1, net_cents=net)

    def coupon_claimed(self) -> "Purchases":
        return replace(self, coupon_claims=self.coupon_claims + 1)

    def _plus(self, currency: str, cents: int) -> dict[str, int]:
        code = currency.upper()
        return {**self.net_cents, code: self.net_cents.get(code, 0) + cents}
