"""Scores that explain themselves: components that add up to the total exactly, and the
log scaling the scores share."""

import functools
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

import msgspec
from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A policy: immutable, strict about unknown fields, JSON in and out."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FrozenStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, gc=False):
    """A part of a fan's state: immutable, strict about unknown fields, JSON in and out. A
    msgspec struct, not a pydantic model: the state is read, changed and written for every
    event, and msgspec does each in a fraction of pydantic's time (a copy with a change: a
    thirtieth). Not tracked by the cycle collector (gc=False): a part holds only immutable
    values and other parts, so it is in no cycle, and the states read and folded were half the
    objects a batch's scoring kept alive for the collector to walk."""


class Component(NamedTuple):  # a tuple: built for every score of every profile written
    name: str
    value: Decimal


class Explained:
    """A score and its components; ``sum(c.value for c in components) == total`` always.

    The parts are kept as computed, and rounded into components when these are read: the
    rounding cost more than the scoring of an event, and most scores written are never read
    with their components (the stored parts give the same components later). A plain slotted
    class: five are made for every profile scored."""

    __slots__ = ("_components", "parts", "places", "total")

    def __init__(self, total: Decimal, parts: tuple[tuple[str, float], ...], places: int) -> None:
        self.total = total
        self.parts = parts
        self.places = places
        self._components: tuple[Component, ...] | None = None

    @property
    def components(self) -> tuple[Component, ...]:
        if self._components is None:
            self._components = _apportioned(self.parts, self.places)
        return self._components

    def component(self, name: str) -> Decimal:
        return next(c.value for c in self.components if c.name == name)

    @property
    def points(self) -> int:
        """The total as a whole number (the 0-100 scores are whole numbers)."""
        return int(self.total)

    def __repr__(self) -> str:
        return f"Explained({self.total}, {self.parts}, places={self.places})"


def apportion(parts: Sequence[tuple[str, float]], *, places: int = 0) -> Explained:
    """The parts' sum rounded to `places` decimals, explained by the parts rounded so that they
    add up to it (`Explained.components`)."""
    scale = 10**places
    for name, value in parts:
        if not 0 <= value < math.inf:  # NaN fails it too
            raise ValueError(f"component {name} must be finite and >= 0, not {value}")
    scaled = math.fsum([value * scale for _, value in parts])  # as apportioned
    return Explained(_decimal(int(scaled + 0.5), places), tuple(parts), places)


def _apportioned(parts: Sequence[tuple[str, float]], places: int) -> tuple[Component, ...]:
    """Largest remainder (Hamilton): every part is rounded down, and the units still missing to
    reach the rounded total go to the parts with the largest remainders (ties: the earlier)."""
    scale = 10**places
    scaled = [value * scale for _, value in parts]
    units = [int(x) for x in scaled]  # int() rounds down: x >= 0
    missing = int(math.fsum(scaled) + 0.5) - sum(units)
    by_remainder = sorted(range(len(units)), key=lambda i: (units[i] - scaled[i], i))
    for i in by_remainder[:missing]:
        units[i] += 1
    return tuple(
        Component(name, _decimal(unit, places))
        for (name, _), unit in zip(parts, units, strict=True)
    )


@functools.lru_cache(maxsize=65_536)  # scores repeat: most are small whole numbers
def _decimal(units: int, places: int) -> Decimal:
    return Decimal(f"{units}E-{places}")  # exact, whatever the context's precision


def log_points(value: float) -> float:
    """log10(1 + value): 0 stays 0, each tenfold adds about one point."""
    return math.log10(1 + max(value, 0))


def log_share(value: float, *, full_at: float) -> float:
    """How far `value` is towards `full_at` on a log scale, in [0, 1]."""
    return min(1.0, log_points(value) / log_points(full_at))


def out_of_100(parts: Sequence[tuple[str, float, float]]) -> Explained:
    """A 0-100 score from (name, weight, share in [0, 1]) parts: each part is worth its weight's
    fraction of 100 points, times its share; whole points."""
    worth = points_each([weight for _, weight, _ in parts])
    return shares_of_100([name for name, _, _ in parts], worth, [share for _, _, share in parts])


def points_each(weights: Sequence[float]) -> tuple[float, ...]:
    """What each weight is worth of `out_of_100`'s 100 points: a policy's, computed once."""
    total_weight = math.fsum(weights)
    return tuple(100 * weight / total_weight for weight in weights)


def shares_of_100(
    names: Sequence[str], worth: Sequence[float], shares: Sequence[float]
) -> Explained:
    """`out_of_100`, each part's weight given as what it is worth (`points_each`)."""
    return apportion(
        [
            (name, points * min(max(share, 0.0), 1.0))
            for name, points, share in zip(names, worth, shares, strict=True)
        ]
    )
