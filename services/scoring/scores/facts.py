"""What the model remembers of a fan besides engagement: counts, sums, extremes and the latest
observation, each kept so that the order events arrive in does not change it."""

from datetime import datetime

from pydantic import Field

from services.scoring.scores.explain import FrozenModel

HOURS_A_DAY = 24


def _earliest(known: datetime | None, at: datetime) -> datetime:
    return at if known is None else min(known, at)


def _latest(known: datetime | None, at: datetime) -> datetime:
    return at if known is None else max(known, at)


class Activity(FrozenModel):
    """When the fan was first and last active, and at what hours (in the brand's time zone)
    they interact."""

    first_seen: datetime | None = None
    last_active: datetime | None = None
    local_hours: tuple[int, ...] = Field(
        default=(0,) * HOURS_A_DAY, min_length=HOURS_A_DAY, max_length=HOURS_A_DAY
    )

    def active(self, at: datetime) -> "Activity":
        first, last = _earliest(self.first_seen, at), _latest(self.last_active, at)
        return self.model_copy(update={"first_seen": first, "last_active": last})

    def interacted(self, local_hour: int) -> "Activity":
        hours = list(self.local_hours)
        hours[local_hour] += 1
        return self.model_copy(update={"local_hours": tuple(hours)})

    @property
    def interactions(self) -> int:
        return sum(self.local_hours)


class Audience(FrozenModel):
    """The fan's follower count as last reported (latest by event time; a tie keeps the
    larger count)."""

    follower_count: int | None = Field(default=None, ge=0)
    observed_at: datetime | None = None

    def observed(self, follower_count: int, at: datetime) -> "Audience":
        known = self.observed_at, self.follower_count
        if known[0] is not None and known[1] is not None and (at, follower_count) <= known:
            return self
        return Audience(follower_count=follower_count, observed_at=at)


class Amplification(FrozenModel):
    """What the fan passed on: shares (with the reach the platform reported, unknown
    counting 0) and mentions of the brand."""

    shares: int = Field(default=0, ge=0)
    share_reach: int = Field(default=0, ge=0)
    mentions: int = Field(default=0, ge=0)

    def shared(self, reach: int | None) -> "Amplification":
        update = {"shares": self.shares + 1, "share_reach": self.share_reach + (reach or 0)}
        return self.model_copy(update=update)

    def mentioned(self) -> "Amplification":
        return self.model_copy(update={"mentions": self.mentions + 1})


class Referrals(FrozenModel):
    """What the fan's red packets brought others to do."""

    friend_claims: int = Field(default=0, ge=0, description="shares of their packets claimed")
    friends_reached: int = Field(default=0, ge=0, description="distinct friends who claimed")
    first_orders: int = Field(default=0, ge=0, description="first orders of referred friends")
    first_order_cents: int = Field(default=0, ge=0)

    def claimed(self, first_from_friend: bool) -> "Referrals":
        reached = self.friends_reached + int(first_from_friend)
        return self.model_copy(
            update={"friend_claims": self.friend_claims + 1, "friends_reached": reached}
        )

    def ordered(self, amount_cents: int) -> "Referrals":
        cents = self.first_order_cents + amount_cents
        return self.model_copy(
            update={"first_orders": self.first_orders + 1, "first_order_cents": cents}
        )


class Purchases(FrozenModel):
    """The fan's own orders (net of refunds, per currency) and the coupons they claimed."""

    paid_orders: int = Field(default=0, ge=0)
    refunds: int = Field(default=0, ge=0)
    net_cents: dict[str, int] = Field(default_factory=dict)
    first_paid_at: datetime | None = None
    last_paid_at: datetime | None = None
    coupon_claims: int = Field(default=0, ge=0)

    def paid(self, amount_cents: int, currency: str, at: datetime) -> "Purchases":
        return self.model_copy(
            update={
                "paid_orders": self.paid_orders + 1,
                "net_cents": self._plus(currency, amount_cents),
                "first_paid_at": _earliest(self.first_paid_at, at),
                "last_paid_at": _latest(self.last_paid_at, at),
            }
        )

    def refunded(self, amount_cents: int, currency: str) -> "Purchases":
        update = {"refunds": self.refunds + 1, "net_cents": self._plus(currency, -amount_cents)}
        return self.model_copy(update=update)

    def coupon_claimed(self) -> "Purchases":
        return self.model_copy(update={"coupon_claims": self.coupon_claims + 1})

    def _plus(self, currency: str, cents: int) -> dict[str, int]:
        code = currency.upper()
        return {**self.net_cents, code: self.net_cents.get(code, 0) + cents}
