"""Forward decay (Cormode, Shkapenyuk, Srivastava, Xu 2009) in exact integer arithmetic.

An event at t of weight 1 adds 2^((t - L) / h) to a stored sum, L a fixed landmark and h the
half-life; the decayed value at T is that sum / 2^((T - L) / h). The sums are integers (fixed
point, FRACTION_BITS below the point), so adding is associative: a sum is the same whatever
the order its terms arrived in. They grow by one bit per half-life since the landmark, which
Python's integers and PostgreSQL's NUMERIC hold without overflow.
"""

import functools
import math
from datetime import UTC, datetime, timedelta

# Never change: every stored sum is relative to it (and to the half-life).
LANDMARK = datetime(2024, 1, 1, tzinfo=UTC)
FRACTION_BITS = 64  # keeps events up to ~40 half-lives before the landmark precise


def half_lives_since_landmark(at: datetime, half_life: timedelta) -> float:
    return (at - LANDMARK) / half_life


def forward_units(at: datetime, half_life: timedelta) -> int:
    """What one event at `at` adds to a forward-decay sum: 2^((at - L) / h), fixed point."""
    exponent = half_lives_since_landmark(at, half_life)
    whole = math.floor(exponent)
    mantissa = round(math.ldexp(math.exp2(exponent - whole), FRACTION_BITS))  # in [2^64, 2^65]
    return mantissa << whole if whole >= 0 else mantissa >> -whole


def decayed_value(units: int, at: datetime, half_life: timedelta) -> float:
    """A forward-decay sum read at `at`: units / 2^((at - L) / h), back in event weights."""
    if not units:
        return 0.0  # what the arithmetic below gives for 0, without it
    whole, divisor = _reading(at, half_life)
    excess = max(units.bit_length() - 64, 0)  # too large for a float: keep its top 64 bits
    return math.ldexp(float(units >> excess), excess - whole) / divisor


@functools.lru_cache(maxsize=64)  # a batch's profiles are all read at the same time
def _reading(at: datetime, half_life: timedelta) -> tuple[int, float]:
    """What `decayed_value` divides by at `at`: 2^whole (an exponent) times a float in [1, 2)."""
    exponent = half_lives_since_landmark(at, half_life) + FRACTION_BITS
    whole = math.floor(exponent)
    return whole, math.exp2(exponent - whole)
