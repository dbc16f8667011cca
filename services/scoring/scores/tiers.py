"""Participation tier: where the fan's engagement falls among the brand's fans.

Default cut fractions 0.20 / 0.95 / 0.9995: the bottom 20% are silent, the next 75%
occasional, the top 5% frequent, and the top 1% of those (0.05% overall) leaders. Cut points
are kept in forward-decay numerator space (`engagement.engagement_numerator`): ranking by
numerators is ranking by scores at any common time, so the cut points stay valid while time
passes and only need recomputing as fans' numerators change.
"""

from collections.abc import Iterable
from typing import Literal, Self

from pydantic import model_validator

from services.scoring.scores.explain import FrozenModel
from services.scoring.scores.quantiles import cut_points, rising

Tier = Literal["silent", "occasional", "frequent", "leader"]


class TierPolicy(FrozenModel):
    """The fractions of a brand's fans at or below each tier boundary."""

    cut_fractions: tuple[float, float, float] = (0.20, 0.95, 0.9995)

    @model_validator(mode="after")
    def _fractions_increase_within_0_and_1(self) -> Self:
        fractions = self.cut_fractions
        if not (fractions[0] > 0 and fractions[-1] < 1 and rising(fractions, strictly=True)):
            raise ValueError(f"tier cut fractions must increase within (0, 1), not {fractions}")
        return self


class TierCutPoints(FrozenModel):
    """A brand's engagement numerators at the tier boundaries; a fan above `leader` is a
    leader, and so on down. None: no fan yet, so nobody is above."""

    occasional: int | None = None
    frequent: int | None = None
    leader: int | None = None


def tier_cut_points(numerators: Iterable[int], policy: TierPolicy) -> TierCutPoints:
    cuts = cut_points(numerators, policy.cut_fractions)
    if cuts is None:
        return TierCutPoints()
    return TierCutPoints(occasional=cuts[0], frequent=cuts[1], leader=cuts[2])


def tier(numerator: int, cuts: TierCutPoints) -> Tier:
    """Strictly above a cut point to reach its tier: ties (most often at 0) stay below."""
    if _above(numerator, cuts.leader):
        return "leader"
    if _above(numerator, cuts.frequent):
        return "frequent"
    if _above(numerator, cuts.occasional):
        return "occasional"
    return "silent"


def _above(numerator: int, cut: int | None) -> bool:
    return cut is not None and numerator > cut
