"""A Prometheus histogram read from a service's /metrics, and its quantiles over an interval.

The service observes each value into buckets; what happened between two scrapes is the
difference of their bucket counts, and a quantile of it is interpolated linearly within the
bucket it falls in, as Prometheus's ``histogram_quantile`` does: an estimate, as fine as the
buckets around it.
"""

import math

import httpx
from prometheus_client.parser import text_string_to_metric_families

Buckets = dict[float, float]  # upper bound ("le"): observations at or under it, cumulative


async def scrape(url: str, name: str) -> Buckets:
    """The buckets of histogram `name` (its labels summed) as `url` serves them now."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url)
        answer.raise_for_status()
    buckets: Buckets = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    if not buckets:
        raise ValueError(f"{url} serves no histogram {name}")
    return buckets


def between(before: Buckets, after: Buckets) -> Buckets:
    """The observations made between two scrapes of one histogram."""
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def observations(buckets: Buckets) -> int:
    return int(buckets.get(math.inf, 0.0))


def quantile(q: float, buckets: Buckets) -> float:
    """The q-quantile, interpolated within its bucket; the highest finite bound when it falls
    in the +Inf bucket, and NaN without observations (both as histogram_quantile)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def past_last_bucket(q: float, buckets: Buckets) -> bool:
    """Whether the q-quantile lies beyond the highest finite bound: `quantile` then gives that
    bound, a floor of the true value."""
    total = buckets.get(math.inf, 0.0)
    highest = max(bound for bound in buckets if not math.isinf(bound))
    return total > 0 and buckets[highest] < q * total
