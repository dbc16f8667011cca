"""Engagement: a forward-decayed sum of weighted interactions, capped per kind and UTC day.

State per fan: for each recent UTC day and kind, the count n and the forward-decay sum S of
the day's interactions; a day counts min(1, cap / n) * S, so a flood of one kind weighs no more
than `cap` of them, and the result depends only on which interactions happened, not on the
order they arrived in. A day is folded (capped for good, added to `folded`) once the fan has
an interaction `fold_after_days` days later, which keeps the state small. An interaction older
than that when it arrives has no day left to join: it counts uncapped (it is still decayed,
and such late arrivals are rare). Weights are applied when the state is read, so a change of
weights applies to the past; a change of half-life or landmark needs a replay.
"""

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Self, get_args

from msgspec import field
from msgspec.structs import replace
from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.scoring.scores.explain import Explained, FrozenModel, FrozenStruct, apportion
from services.scoring.scores.facts import Count
from services.scoring.scores.forward_decay import decayed_value, forward_units

InteractionKind = Literal["message", "comment", "mention", "reaction", "share", "follow"]
INTERACTION_KINDS: tuple[InteractionKind, ...] = get_args(InteractionKind)

DEFAULT_WEIGHTS: Mapping[InteractionKind, float] = {
    "message": 3.0, "comment": 2.0, "mention": 4.0, "reaction": 1.0, "share": 5.0, "follow": 2.0,
}  # fmt: skip
DEFAULT_DAILY_CAPS: Mapping[InteractionKind, int] = {
    "message": 20, "comment": 10, "mention": 5, "reaction": 30, "share": 5, "follow": 1,
}  # fmt: skip
SHORTEST_HALF_LIFE_DAYS = 1.0  # stored sums grow one bit per half-life: a few hundred a year


class EngagementPolicy(FrozenModel):
    """How interactions weigh, decay and are capped.

    Defaults: half-life 14 days; weights message 3, comment 2, mention 4, reaction 1, share 5,
    follow 2; daily caps message 20, comment 10, mention 5, reaction 30, share 5, follow 1;
    days folded 3 days after the fan's latest one. A partial table of weights or caps keeps the
    defaults for the kinds it leaves out; an unknown kind is refused.
    """

    half_life_days: float = Field(default=14.0, allow_inf_nan=False)
    weights: dict[InteractionKind, NonNegativeFloat] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS)
    )
    daily_caps: dict[InteractionKind, PositiveInt] = Field(
        default_factory=lambda: dict(DEFAULT_DAILY_CAPS)
    )
    fold_after_days: int = Field(default=3, ge=0, le=31)

    @field_validator("weights", "daily_caps", mode="before")
    @classmethod
    def _defaults_for_kinds_left_out(cls, value: object, info: ValidationInfo) -> object:
        defaults = DEFAULT_WEIGHTS if info.field_name == "weights" else DEFAULT_DAILY_CAPS
        return {**defaults, **value} if isinstance(value, Mapping) else value

    @field_validator("half_life_days")
    @classmethod
    def _at_least_a_day(cls, value: float) -> float:
        if value < SHORTEST_HALF_LIFE_DAYS:
            raise ValueError("must be at least 1 day: stored sums grow by one bit a half-life")
        return value

    @model_validator(mode="after")
    def _something_counts(self) -> Self:
        if not any(self.weights.values()):
            raise ValueError("engagement weights: at least one kind must weigh more than 0")
        return self

    @functools.cached_property
    def half_life(self) -> timedelta:
        return timedelta(days=self.half_life_days)

    @functools.cached_property
    def fold_after(self) -> timedelta:
        return timedelta(days=self.fold_after_days)

    @functools.cached_property
    def exact_weights(self) -> tuple[dict[InteractionKind, int], int]:
        """The weights as integers over one common denominator (floats are binary fractions,
        so it is a power of two): the numerator's sum stays exact without Fractions."""
        ratios = {kind: weight.as_integer_ratio() for kind, weight in self.weights.items()}
        denominator = max(den for _, den in ratios.values())
        return {
            kind: num * (denominator // den) for kind, (num, den) in ratios.items()
        }, denominator


class DayTally(FrozenStruct, frozen=True):
    """One kind's interactions on one UTC day: how many, and their forward-decay sum."""

    count: Count = 0
    units: Count = 0

    def capped(self, cap: int) -> int:
        return self.units if self.count <= cap else self.units * cap // self.count


NO_TALLY = DayTally()


class EngagementState(FrozenStruct, frozen=True):
    latest_day: date | None = None
    days: dict[date, dict[InteractionKind, DayTally]] = field(default_factory=dict)
    folded: dict[InteractionKind, int] = field(default_factory=dict)


def apply_interaction(
    state: EngagementState, kind: InteractionKind, at: datetime, policy: EngagementPolicy
) -> EngagementState:
    day = at.astimezone(UTC).date()
    units = forward_units(at, policy.half_life)
    if state.latest_day is not None and day < _fold_before(state.latest_day, policy):
        return replace(state, folded=_plus(state.folded, kind, units))
    tallies = state.days.get(day, {})
    tally = tallies.get(kind, NO_TALLY)
    tally = DayTally(count=tally.count + 1, units=tally.units + units)
    days = {**state.days, day: {**tallies, kind: tally}}
    latest = max(day, state.latest_day or day)
    return _folded(days, state.folded, latest_day=latest, policy=policy)


def _fold_before(latest_day: date, policy: EngagementPolicy) -> date:
    return latest_day - policy.fold_after


def _folded(
    days: Mapping[date, dict[InteractionKind, DayTally]],
    folded: Mapping[InteractionKind, int],
    *,
    latest_day: date,
    policy: EngagementPolicy,
) -> EngagementState:
    """The state with the days before the horizon capped for good and added to `folded`."""
    horizon = _fold_before(latest_day, policy)
    if min(days, default=horizon) >= horizon:  # most often: nothing to fold, nothing to drop
        return EngagementState(latest_day=latest_day, days=dict(days), folded=dict(folded))
    for day in (day for day in days if day < horizon):
        for kind, tally in days[day].items():
            folded = _plus(folded, kind, tally.capped(policy.daily_caps[kind]))
    kept = {day: tallies for day, tallies in days.items() if day >= horizon}
    return EngagementState(latest_day=latest_day, days=kept, folded=dict(folded))


def _plus(
    sums: Mapping[InteractionKind, int], kind: InteractionKind, units: int
) -> dict[InteractionKind, int]:
    return {**sums, kind: sums.get(kind, 0) + units}


def capped_units(state: EngagementState, policy: EngagementPolicy) -> dict[InteractionKind, int]:
    """Each kind's forward-decay sum, daily caps applied, before weights."""
    units = dict(state.folded)
    for tallies in state.days.values():
        for kind, tally in tallies.items():
            units = _plus(units, kind, tally.capped(policy.daily_caps[kind]))
    return units


def engagement_numerator(state: EngagementState, policy: EngagementPolicy) -> int:
    """The weighted forward-decay sum: fans rank by it as they rank by their scores at any
    common time, so a brand's cut points can be kept in this space."""
    return numerator_of(capped_units(state, policy), policy)


def numerator_of(units: Mapping[InteractionKind, int], policy: EngagementPolicy) -> int:
    """`engagement_numerator` from the capped sums (`capped_units`)."""
    weights, denominator = policy.exact_weights
    return sum(weights[kind] * n for kind, n in units.items()) // denominator


def engagement_score(
    state: EngagementState, policy: EngagementPolicy, *, at: datetime
) -> Explained:
    """Engagement points at `at` (hundredths), one component per kind."""
    return score_of(capped_units(state, policy), policy, at=at)


def score_of(
    units: Mapping[InteractionKind, int], policy: EngagementPolicy, *, at: datetime
) -> Explained:
    """`engagement_score` from the capped sums (`capped_units`)."""
    half_life = policy.half_life
    return apportion(
        [
            (kind, policy.weights[kind] * decayed_value(units.get(kind, 0), at, half_life))
            for kind in INTERACTION_KINDS
        ],
        places=2,
    )
