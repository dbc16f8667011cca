"""Wallet value: recency, frequency and monetary value of the fan's own orders (RFM).

R comes from fixed day thresholds (recency moves with the clock for every fan alike); F and M
are scored against the brand's own buyers: its quintile cut points of paid-order counts and of
net value in cents (paid minus refunded, in the brand's currency, never below 0). Each of R, F,
M is 1-5; the wallet score is Σ weight_x · x / 5 out of 100, and 0 for a fan who never bought.
"""

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple, Self

from pydantic import Field, NonNegativeFloat, model_validator

from services.scoring.scores.explain import (
    Explained,
    FrozenModel,
    apportion,
    points_each,
    shares_of_100,
)
from services.scoring.scores.facts import Purchases
from services.scoring.scores.quantiles import bands_above, cut_points, rising

QUINTILES = (0.2, 0.4, 0.6, 0.8)
Cuts = tuple[int, int, int, int]


def _non_decreasing(name: str, cuts: tuple[int, ...]) -> None:
    if not rising(cuts, strictly=False):
        raise ValueError(f"{name} must not decrease, not {cuts}")


class RfmWeights(FrozenModel):
    """Relative weights; defaults recency 30, frequency 30, monetary 40."""

    recency: NonNegativeFloat = 30.0
    frequency: NonNegativeFloat = 30.0
    monetary: NonNegativeFloat = 40.0

    @model_validator(mode="after")
    def _something_counts(self) -> Self:
        if not self.recency + self.frequency + self.monetary > 0:
            raise ValueError("wallet weights: at least one must be more than 0")
        return self

    @functools.cached_property
    def worth(self) -> tuple[float, ...]:
        """What each of R, F, M is worth out of 100 (`points_each`)."""
        return points_each([self.recency, self.frequency, self.monetary])


class WalletPolicy(FrozenModel):
    """Default recency thresholds (days since the last paid order): R 5 up to 30, 4 up to 90,
    3 up to 180, 2 up to 365, else 1."""

    recency_days: tuple[int, int, int, int] = (30, 90, 180, 365)
    weights: RfmWeights = RfmWeights()

    @model_validator(mode="after")
    def _thresholds_increase(self) -> Self:
        days = self.recency_days
        if days[0] <= 0 or not rising(days, strictly=True):
            raise ValueError(f"recency_days must be positive and increasing, not {days}")
        return self


class WalletCutPoints(FrozenModel):
    """A brand's 20/40/60/80th percentiles among its buyers; all 0 when it has none yet."""

    currency: str = Field(min_length=3, max_length=3)
    monetary: Cuts = (0, 0, 0, 0)
    frequency: Cuts = (0, 0, 0, 0)

    @model_validator(mode="after")
    def _cuts_do_not_decrease(self) -> Self:
        _non_decreasing("monetary cut points", self.monetary)
        _non_decreasing("frequency cut points", self.frequency)
        return self


def monetary_cents(purchases: Purchases, currency: str) -> int:
    """The M measure: net paid cents in the brand's currency, never below 0."""
    return max(purchases.net_cents.get(currency.upper(), 0), 0)


def wallet_cut_points(
    *, currency: str, monetary: Iterable[int], frequency: Iterable[int]
) -> WalletCutPoints:
    """From the brand's buyers' `monetary_cents` and paid-order counts."""
    money, orders = cut_points(monetary, QUINTILES), cut_points(frequency, QUINTILES)
    return WalletCutPoints(
        currency=currency.upper(),
        monetary=_four(money),
        frequency=_four(orders),
    )


def _four(cuts: tuple[int, ...] | None) -> Cuts:
    if cuts is None:
        return (0, 0, 0, 0)
    return (cuts[0], cuts[1], cuts[2], cuts[3])


class Rfm(NamedTuple):
    recency: int
    frequency: int
    monetary: int


class WalletScore(NamedTuple):
    rfm: Rfm | None  # None: the fan never bought
    score: Explained


def recency_score(since_last_order: timedelta, policy: WalletPolicy) -> int:
    days = since_last_order / timedelta(days=1)
    return 5 - sum(1 for threshold in policy.recency_days if days > threshold)


def rfm(
    purchases: Purchases, cuts: WalletCutPoints, policy: WalletPolicy, *, now: datetime
) -> Rfm | None:
    if purchases.paid_orders == 0 or purchases.last_paid_at is None:
        return None
    return Rfm(
        recency=recency_score(now - purchases.last_paid_at, policy),
        frequency=1 + bands_above(purchases.paid_orders, cuts.frequency),
        monetary=1 + bands_above(monetary_cents(purchases, cuts.currency), cuts.monetary),
    )


NAMES = ("recency", "frequency", "monetary")
NEVER_BOUGHT = apportion([(name, 0) for name in NAMES])  # the same for every such fan


def wallet_score(
    purchases: Purchases, cuts: WalletCutPoints, policy: WalletPolicy, *, now: datetime
) -> WalletScore:
    scores = rfm(purchases, cuts, policy, now=now)
    if scores is None:
        return WalletScore(None, NEVER_BOUGHT)
    return WalletScore(scores, _points(scores, policy.weights.worth))


@functools.lru_cache(maxsize=1024)  # 125 R, F, M scores
def _points(scores: Rfm, worth: tuple[float, ...]) -> Explained:
    shares = (scores.recency / 5, scores.frequency / 5, scores.monetary / 5)
    return shares_of_100(NAMES, worth, shares)
