"""Behaviour tags: what the fan's habits say, by explicit rules.

- ``coupon_hunter``: claimed at least `coupon_hunter_min_claims` coupons (default 5) and paid
  fewer than `coupon_hunter_orders_per_claim` orders per claim (default 0.2: under 1 in 5).
- ``lapsed_buyer``: paid an order once, and none for `lapsed_buyer_days` (default 90).
- ``night_owl``: at least `night_owl_min_interactions` interactions (default 10), more than
  `night_owl_share` of them (default 0.5: most) between `night_start_hour` (inclusive) and
  `night_end_hour` (exclusive) in the brand's time zone (default 0:00-5:00; a window may wrap
  past midnight, 22 to 5).
"""

import functools
from datetime import datetime, timedelta
from typing import Self

from pydantic import Field, model_validator

from services.scoring.scores.explain import FrozenModel
from services.scoring.scores.facts import Activity, Purchases

BEHAVIOUR_TAGS = frozenset({"coupon_hunter", "lapsed_buyer", "night_owl"})


class BehaviourPolicy(FrozenModel):
    coupon_hunter_min_claims: int = Field(default=5, ge=1)
    coupon_hunter_orders_per_claim: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    lapsed_buyer_days: float = Field(default=90.0, gt=0, allow_inf_nan=False)
    night_start_hour: int = Field(default=0, ge=0, le=23)
    night_end_hour: int = Field(default=5, ge=0, le=24)
    night_owl_min_interactions: int = Field(default=10, ge=1)
    night_owl_share: float = Field(default=0.5, ge=0, lt=1)

    @model_validator(mode="after")
    def _night_is_not_empty(self) -> Self:
        if self.night_start_hour == self.night_end_hour % 24:
            raise ValueError("night_start_hour and night_end_hour must differ")
        return self

    @functools.cached_property
    def night_hours(self) -> tuple[int, ...]:
        start, end = self.night_start_hour, self.night_end_hour
        return (*range(start, end),) if start < end else (*range(start, 24), *range(end))

    @functools.cached_property
    def lapsed_after(self) -> timedelta:
        return timedelta(days=self.lapsed_buyer_days)


def is_coupon_hunter(purchases: Purchases, policy: BehaviourPolicy) -> bool:
    claims = purchases.coupon_claims
    few_orders = purchases.paid_orders < claims * policy.coupon_hunter_orders_per_claim
    return claims >= policy.coupon_hunter_min_claims and few_orders


def is_lapsed_buyer(purchases: Purchases, policy: BehaviourPolicy, *, now: datetime) -> bool:
    last = purchases.last_paid_at
    return last is not None and now - last > policy.lapsed_after


def is_night_owl(activity: Activity, policy: BehaviourPolicy) -> bool:
    total = activity.interactions
    if total < policy.night_owl_min_interactions:
        return False
    at_night = sum(activity.local_hours[hour] for hour in policy.night_hours)
    return at_night > policy.night_owl_share * total


def behaviour_tags(
    activity: Activity, purchases: Purchases, policy: BehaviourPolicy, *, now: datetime
) -> frozenset[str]:
    found = []
    if is_coupon_hunter(purchases, policy):
        found.append("coupon_hunter")
    if is_lapsed_buyer(purchases, policy, now=now):
        found.append("lapsed_buyer")
    if is_night_owl(activity, policy):
        found.append("night_owl")
    return frozenset(found)
