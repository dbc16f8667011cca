"""Lifecycle stage: a function of time, so a fan who does nothing still moves on.

    new       first seen less than `new_days` ago
    active    otherwise, last active at most `active_days` ago
    at_risk   last active at most `lapsed_days` ago
    lapsed    longer

Defaults 7 / 30 / 90 days. Activity is what the fan does (interactions, orders, coupon
claims), never what the brand does to them.
"""

import functools
from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import Field, model_validator

from services.scoring.scores.explain import FrozenModel

Lifecycle = Literal["new", "active", "at_risk", "lapsed"]


class LifecyclePolicy(FrozenModel):
    new_days: float = Field(default=7.0, gt=0, allow_inf_nan=False)
    active_days: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    lapsed_days: float = Field(default=90.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _active_before_lapsed(self) -> Self:
        if not self.active_days < self.lapsed_days:
            raise ValueError(
                f"lifecycle: active_days ({self.active_days}) must be less than lapsed_days "
                f"({self.lapsed_days})"
            )
        return self

    @functools.cached_property
    def spans(self) -> tuple[timedelta, timedelta, timedelta]:
        """`new_days`, `active_days` and `lapsed_days` as time spans."""
        new, active, lapsed = self.new_days, self.active_days, self.lapsed_days
        return timedelta(days=new), timedelta(days=active), timedelta(days=lapsed)


def lifecycle_stage(
    *, first_seen: datetime, last_active: datetime, now: datetime, policy: LifecyclePolicy
) -> Lifecycle:
    new, active, lapsed = policy.spans
    if now - first_seen < new:
        return "new"
    idle = now - last_active
    if idle <= active:
        return "active"
    if idle <= lapsed:
        return "at_risk"
    return "lapsed"
