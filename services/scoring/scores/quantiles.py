"""Cut points of a brand's distribution, and where a value falls among them.

Ties go down: a value equal to a cut point is below it, so a brand where most fans share a
value (0 interactions, 1 order) puts all of them in the lower band rather than splitting them
arbitrarily.
"""

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise


def cut_points(values: Iterable[int], fractions: Sequence[float]) -> tuple[int, ...] | None:
    """For each fraction q, the value at rank ceil(q·n) of the sorted values: at least q of
    them are at or below it, at most 1 - q above. None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return tuple(ordered[rank_at(fraction, len(ordered)) - 1] for fraction in fractions)


def rank_at(fraction: float, count: int) -> int:
    """The 1-based rank `cut_points` takes for `fraction` of `count` sorted values (for a
    caller that reads values by rank, in SQL, without holding them all)."""
    # round() first: 0.2 * 100 is 20.000000000000004 in floating point, not a rank of 21.
    return min(max(math.ceil(round(fraction * count, 9)), 1), count)


def bands_above(value: int, cuts: Sequence[int]) -> int:
    """How many cut points lie strictly below `value` (0 to len(cuts))."""
    return sum(1 for cut in cuts if value > cut)


def rising(values: Sequence[float], *, strictly: bool) -> bool:
    """Whether each value is above (or, not `strictly`, at least) the one before."""
    return all(b > a if strictly else b >= a for a, b in pairwise(values))
