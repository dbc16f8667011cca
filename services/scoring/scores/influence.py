"""Influence: how far the fan's voice carries, log-scaled so a tenfold audience adds a point.

    influence = Σ weight_c · log10(1 + x_c)

over followers (latest reported count), shares, the reach reported on them, mentions of the
brand, and distinct friends reached through referral packets; in hundredths of a point.
"""

import functools
from typing import Literal

from pydantic import Field, NonNegativeFloat

from services.scoring.scores.explain import Explained, FrozenModel, apportion, log_points
from services.scoring.scores.facts import Amplification, Audience, Referrals

Role = Literal["consumer", "kol", "employee"]


class InfluenceWeights(FrozenModel):
    """Defaults: followers 1, shares 0.5, share reach 0.5, mentions 0.5, friends reached 1."""

    followers: NonNegativeFloat = 1.0
    shares: NonNegativeFloat = 0.5
    share_reach: NonNegativeFloat = 0.5
    mentions: NonNegativeFloat = 0.5
    friends_reached: NonNegativeFloat = 1.0


class InfluencePolicy(FrozenModel):
    """Default KOL threshold 4.0: 10,000 followers alone, or a smaller audience that shares
    and refers."""

    weights: InfluenceWeights = InfluenceWeights()
    kol_threshold: float = Field(default=4.0, gt=0, allow_inf_nan=False)

    @functools.cached_property
    def weighed(self) -> tuple[float, ...]:
        """The weights in `NAMES` order."""
        w = self.weights
        return w.followers, w.shares, w.share_reach, w.mentions, w.friends_reached


NAMES = ("followers", "shares", "share_reach", "mentions", "friends_reached")


def influence_score(
    audience: Audience, amplification: Amplification, referrals: Referrals, policy: InfluencePolicy
) -> Explained:
    counts = (
        audience.follower_count or 0,
        amplification.shares,
        amplification.share_reach,
        amplification.mentions,
        referrals.friends_reached,
    )
    return _influence(counts, policy.weighed)


@functools.lru_cache(maxsize=4096)  # most fans have the same few counts
def _influence(counts: tuple[int, ...], weights: tuple[float, ...]) -> Explained:
    parts = zip(NAMES, weights, counts, strict=True)
    return apportion(
        [(name, weight * log_points(count)) for name, weight, count in parts], places=2
    )


def role(influence: Explained, policy: InfluencePolicy, *, manual: Role | None = None) -> Role:
    """A role set by hand wins; otherwise a KOL from the threshold on, else a consumer.
    Employees are only ever set by hand."""
    if manual is not None:
        return manual
    return "kol" if influence.total >= policy.kol_threshold else "consumer"
