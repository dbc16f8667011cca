"""Social value: what the fan brought others to do, out of 100.

    social = Σ weight_c / Σ weight · 100 · min(1, log10(1 + x_c) / log10(1 + full_c))

over: friends' claims of the fan's red packets, first orders of the customers they referred
(count and amount), and the fan's shares weighted by reach (each share counts 1 + its reach).
Log-scaled against fixed "full marks" rather than the brand's quantiles: most fans have none of
these, so a brand's quantiles would be 0 and tell nothing apart.
"""

import functools
from typing import Self

from pydantic import Field, NonNegativeFloat, model_validator

from services.scoring.scores.explain import (
    Explained,
    FrozenModel,
    log_points,
    points_each,
    shares_of_100,
)
from services.scoring.scores.facts import Amplification, Referrals


class SocialPart(FrozenModel):
    weight: NonNegativeFloat
    full_at: float = Field(gt=0, allow_inf_nan=False, description="the value that earns it all")


class SocialPolicy(FrozenModel):
    """Defaults (weight, full marks at): friend claims 25 at 50 claims; referred first orders
    35 at 10 orders; their amount 25 at 500,000 cents; shares by reach 15 at 10,000."""

    friend_claims: SocialPart = SocialPart(weight=25, full_at=50)
    referred_orders: SocialPart = SocialPart(weight=35, full_at=10)
    referred_order_cents: SocialPart = SocialPart(weight=25, full_at=500_000)
    shares_reach: SocialPart = SocialPart(weight=15, full_at=10_000)

    @model_validator(mode="after")
    def _something_counts(self) -> Self:
        if not any(part.weight for part in self._parts()):
            raise ValueError("social weights: at least one must be more than 0")
        return self

    def _parts(self) -> tuple[SocialPart, ...]:
        return (
            self.friend_claims,
            self.referred_orders,
            self.referred_order_cents,
            self.shares_reach,
        )

    @functools.cached_property
    def scale(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """What each part is worth out of 100 (`points_each`), and the log points of its full
        marks: the same for every fan."""
        parts = self._parts()
        return points_each([part.weight for part in parts]), tuple(
            log_points(part.full_at) for part in parts
        )


NAMES = ("friend_claims", "referred_orders", "referred_order_cents", "shares_reach")


def social_score(
    referrals: Referrals, amplification: Amplification, policy: SocialPolicy
) -> Explained:
    values = (
        referrals.friend_claims,
        referrals.kept_orders,
        referrals.kept_order_cents,
        amplification.shares + amplification.share_reach,
    )
    return _social_score(values, *policy.scale)


@functools.lru_cache(maxsize=4096)  # most fans have the same few values: none at all, mostly
def _social_score(
    values: tuple[int, ...], worth: tuple[float, ...], full_at: tuple[float, ...]
) -> Explained:
    # `log_share`, with the log points of its full marks known
    shares = [
        min(1.0, log_points(value) / full) for value, full in zip(values, full_at, strict=True)
    ]
    return shares_of_100(NAMES, worth, shares)
