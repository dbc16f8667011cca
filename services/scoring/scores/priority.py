"""Priority: one whole number 0-100 that says whom to serve first.

    priority = Σ weight_c / Σ weight · 100 · share_c

with shares: wallet / 100, social / 100, engagement E as E / (E + half_points) (half marks at
`engagement_half_points`, never quite full), influence I as min(1, I / influence_full).
Defaults: wallet 40, social 30, engagement 20, influence 10; half marks at 20 engagement points
(about two messages a week, kept up); full influence at 6 (a million followers).
"""

import functools
from typing import Self

from pydantic import Field, NonNegativeFloat, model_validator

from services.scoring.scores.explain import Explained, FrozenModel, points_each, shares_of_100


class PriorityPolicy(FrozenModel):
    wallet: NonNegativeFloat = 40.0
    social: NonNegativeFloat = 30.0
    engagement: NonNegativeFloat = 20.0
    influence: NonNegativeFloat = 10.0
    engagement_half_points: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    influence_full: float = Field(default=6.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _something_counts(self) -> Self:
        if not self.wallet + self.social + self.engagement + self.influence > 0:
            raise ValueError("priority weights: at least one must be more than 0")
        return self

    @functools.cached_property
    def worth(self) -> tuple[float, ...]:
        """What each part is worth out of 100 (`points_each`), in `NAMES` order."""
        return points_each([self.wallet, self.social, self.engagement, self.influence])


NAMES = ("wallet", "social", "engagement", "influence")


def priority_score(
    *,
    wallet: Explained,
    social: Explained,
    engagement: Explained,
    influence: Explained,
    policy: PriorityPolicy,
) -> Explained:
    points = float(engagement.total)
    shares = (
        float(wallet.total) / 100,
        float(social.total) / 100,
        points / (points + policy.engagement_half_points),
        float(influence.total) / policy.influence_full,
    )
    return shares_of_100(NAMES, policy.worth, shares)
