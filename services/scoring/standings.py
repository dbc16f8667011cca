"""What changes with the brand and the clock rather than with a fan's events: each brand's cut
points, the tiers that follow them, and lifecycle stages moving on as time passes. Takes the
session first; flushes, never commits (`retier` commits what its `transactions` commit)."""

import math
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import metrics, repository
from services.scoring.domain import (
    Brand,
    ProfileRow,
    ScoringModel,
    announcement,
    row_columns,
    snapshot,
)
from services.scoring.models import FanProfile
from services.scoring.repository import LifecycleCutoffs
from services.scoring.scores.profile import NO_LABELS, BrandStanding
from services.scoring.scores.quantiles import rank_at
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import QUINTILES, Cuts, WalletCutPoints
from shared.db import after_commit
from shared.outbox import Outbox

RETIER_PAGE = 250  # fans moved to their new tier in one transaction
DRIFT_MIN_CHANGES = 50  # below this many changes a brand's cut points wait for their turn


class TierDrift:
    """What this process's consumers changed of each brand's distribution since its cut points
    were last refreshed: fans moved to another tier against those cut points, and new fans. A
    brand's cut points go stale as its fans' numerators grow, and then every fan scored against
    them is put in a tier the next refresh takes back: in make bench-scoring's steady phase a
    minute of fresh events lifted half the fans above the stale frequent cut, and each refresh
    moved 41,000 to 72,000 of the 100,000 fans back (each move an announcement), for lag p99 of
    2.4 s. Refreshed once their changes reach a share of their fans, they follow the brand."""

    def __init__(self) -> None:
        self._changes: Counter[Brand] = Counter()
        self._fans: dict[Brand, int] = {}
        self._refreshed: dict[Brand, float] = {}

    def changed(self, brand: Brand) -> None:
        self._changes[brand] += 1

    def refreshed(self, brand: Brand, *, fans: int, at: float) -> None:
        self._changes.pop(brand, None)
        self._fans[brand], self._refreshed[brand] = fans, at

    def drifted(self, *, share: float, at: float, spacing: float) -> list[Brand]:
        """The brands whose changes reached `share` of their fans (and `DRIFT_MIN_CHANGES`),
        refreshed `spacing` seconds ago or more (`at` and the refreshes on one clock)."""
        return sorted(
            brand
            for brand, changes in self._changes.items()
            if changes >= max(DRIFT_MIN_CHANGES, share * self._fans.get(brand, 0))
            and at - self._refreshed.get(brand, -math.inf) >= spacing
        )


TIER_DRIFT = TierDrift()  # the process's, as its metrics are


async def refresh_cut_points(
    session: AsyncSession, *, model: ScoringModel, outbox: Outbox, now: datetime
) -> list[Brand]:
    """Recompute every brand's cut points (`refresh_brand`) and move their fans in the caller's
    transaction; returns the brands whose tier cut points moved."""
    moved = []
    for brand in await repository.brands(session):
        refreshed = await refresh_brand(session, brand, model=model, now=now)
        await retier(lambda: nullcontext(session), brand, refreshed.cuts, outbox=outbox, now=now)
        if refreshed.moved:
            moved.append(brand)
    return moved


class Refreshed(NamedTuple):
    """A brand's tier cut points as recomputed, as they were, and how many fans it has."""

    cuts: TierCutPoints
    before: TierCutPoints
    fans: int

    @property
    def moved(self) -> bool:
        return self.cuts != self.before

    def between(self) -> list[tuple[int, int]] | None:
        """The numerator ranges (low, high] where a fan's tier differs between the cut points
        before and now; None when a cut point is new or gone (any fan may have moved)."""
        ranges = []
        for name in ("occasional", "frequent", "leader"):
            was, now = getattr(self.before, name), getattr(self.cuts, name)
            if was == now:
                continue
            if was is None or now is None:
                return None
            ranges.append((min(was, now), max(was, now)))
        return ranges


async def refresh_brand(
    session: AsyncSession, brand: Brand, *, model: ScoringModel, now: datetime,
    tiers_only: bool = False,
) -> Refreshed:  # fmt: skip
    """Recompute and save the brand's cut points (`tiers_only`: its tier cut points, which
    drift with engagement, and not its wallet's); its tier cut points, which its fans are then
    moved to (`retier`), as they were and are now."""
    known = await repository.brand_standings(session, [brand])
    previous = known.get(brand) or model.unranked(*brand)
    fans = await repository.count_fans(session, brand)
    if tiers_only:
        tiers = await tier_cuts(session, brand, model=model, fans=fans)
        standing = BrandStanding(tiers=tiers, wallet=previous.wallet)
    else:
        standing = await brand_standing(session, brand, model=model, fans=fans)
    await repository.save_cut_points(session, brand, standing, at=now)
    return Refreshed(standing.tiers, previous.tiers, fans)


async def retier(
    transactions: Callable[[], AbstractAsyncContextManager[AsyncSession]], brand: Brand,
    cuts: TierCutPoints, *, outbox: Outbox, now: datetime,
    within: Sequence[tuple[int, int]] | None = None,
) -> None:  # fmt: skip
    """Every fan of the brand (`within`: whose numerator is in one of these (low, high] ranges)
    to the tier of the cut points, `RETIER_PAGE` fans in each transaction `transactions`
    opens."""
    after: str | None = "" if within is None or within else None
    while after is not None:
        async with transactions() as session:
            after = await retier_page(
                session, brand, cuts, after=after, limit=RETIER_PAGE, outbox=outbox, now=now,
                within=within,
            )  # fmt: skip


async def retier_page(
    session: AsyncSession, brand: Brand, cuts: TierCutPoints, *, after: str, limit: int,
    outbox: Outbox, now: datetime, within: Sequence[tuple[int, int]] | None = None,
) -> str | None:  # fmt: skip
    """Move the next `limit` of the brand's fans (after `after` in key order; `within` as
    `retier` takes it) whose tier the cut points change, and announce them; the key to go on
    after, None when none was left."""
    moved, last = await repository.retier(
        session, brand, cuts, after=after, limit=limit, within=within
    )
    cause = f"tier:{{}}:{now.isoformat()}"
    await outbox.add_all(
        session, [announcement(update, cause=cause.format(update.fan_key)) for update in moved]
    )
    for row in moved:
        after_commit(session, metrics.TIER_CHANGES.labels(row.tier).inc)
    return last


async def brand_standing(
    session: AsyncSession, brand: Brand, *, model: ScoringModel, fans: int
) -> BrandStanding:
    """The brand's cut points from its `fans` fans now: ranks read in SQL, as
    `quantiles.cut_points` takes them."""
    tiers = await tier_cuts(session, brand, model=model, fans=fans)
    monetary = await _cuts(session, brand, FanProfile.monetary_cents, QUINTILES, buyers=True)
    frequency = await _cuts(session, brand, FanProfile.paid_orders, QUINTILES, buyers=True)
    return BrandStanding(
        tiers=tiers,
        wallet=WalletCutPoints(
            currency=model.rules(*brand).currency,
            monetary=_four(monetary),
            frequency=_four(frequency),
        ),
    )


async def tier_cuts(
    session: AsyncSession, brand: Brand, *, model: ScoringModel, fans: int
) -> TierCutPoints:
    fractions = model.policy.tiers.cut_fractions
    return _tiers(
        await _cuts(session, brand, FanProfile.engagement_numerator, fractions, count=fans)
    )


async def _cuts(
    session: AsyncSession,
    brand: Brand,
    column: repository.RankedColumn,
    fractions: Sequence[float],
    *,
    buyers: bool = False,
    count: int | None = None,
) -> tuple[int, ...]:
    """Empty when the brand has no fans (or buyers) to rank; `count`: its fans, if known."""
    if count is None:
        count = await repository.count_fans(session, brand, buyers_only=buyers)
    if count == 0:
        return ()
    ranks = [rank_at(fraction, count) for fraction in fractions]
    values = await repository.values_at_ranks(session, brand, column, ranks, buyers_only=buyers)
    return tuple(values[rank] for rank in ranks)


def _tiers(cuts: tuple[int, ...]) -> TierCutPoints:
    if not cuts:
        return TierCutPoints()
    return TierCutPoints(occasional=cuts[0], frequent=cuts[1], leader=cuts[2])


def _four(cuts: tuple[int, ...]) -> Cuts:
    return (cuts[0], cuts[1], cuts[2], cuts[3]) if cuts else (0, 0, 0, 0)


async def sweep_lifecycles(
    session: AsyncSession, *, model: ScoringModel, outbox: Outbox, now: datetime, limit: int
) -> int:
    """Rescore at `now` up to `limit` fans whose lifecycle stage time has moved on, announcing
    those whose profile changed for others; returns how many were rescored."""
    rows = await repository.lock_lifecycle_candidates(session, _cutoffs(model, now), limit=limit)
    await _rescore_and_announce(session, rows, model=model, outbox=outbox, now=now)
    return len(rows)


async def rescore_after(
    session: AsyncSession,
    fan_key: str,
    *,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
    limit: int,
) -> str | None:
    """Rescore at `now` up to `limit` fans after `fan_key` in key order, announcing those whose
    profile changed for others: what moves with time alone (engagement's decay, recency,
    lifecycle) is kept up for fans who do nothing. Returns the key to go on after, or None at
    the end."""
    rows = await repository.profiles_after(session, fan_key, limit=limit, lock=True)
    await _rescore_and_announce(session, rows, model=model, outbox=outbox, now=now)
    after_commit(session, lambda: metrics.PROFILES_RESCORED.inc(len(rows)))
    return rows[-1].fan_key if len(rows) == limit else None


async def _rescore_and_announce(
    session: AsyncSession,
    rows: Sequence[ProfileRow],
    *,
    model: ScoringModel,
    outbox: Outbox,
    now: datetime,
) -> None:
    rescored = await rescore(session, rows, model=model, now=now)
    changed = [(before, after) for before, after in zip(rows, rescored, strict=True)
               if before.seen_by_others != after.seen_by_others]  # fmt: skip
    cause = f"rescored:{{}}:{now.isoformat()}"
    await outbox.add_all(
        session,
        [announcement(snapshot(after), cause=cause.format(after.fan_key)) for _, after in changed],
    )
    for before, after in changed:
        if after.lifecycle is not None and after.lifecycle != before.lifecycle:
            after_commit(session, metrics.LIFECYCLE_CHANGES.labels(after.lifecycle).inc)


async def rescore(
    session: AsyncSession,
    rows: Sequence[ProfileRow],
    *,
    model: ScoringModel,
    now: datetime,
    locked: Collection[str] | None = None,
) -> list[ProfileRow]:
    """These profiles scored again at `now` against their brands' stored cut points, and
    written, with the labels operators set on them; announcing is the caller's choice (the
    rebuild announces nothing). `locked`: as `repository.upsert_profiles` takes it, when some
    of the rows are new."""
    labels = await repository.labels_of(session, [row.fan_key for row in rows])
    brands = {(row.platform, row.account) for row in rows}
    standings = await repository.brand_standings(session, brands)
    rescored = [
        row.changed(manual=labels.get(row.fan_key, NO_LABELS)).scored(
            model,
            standings.get((row.platform, row.account)) or model.unranked(row.platform, row.account),
            now=now,
        )
        for row in rows
    ]
    columns = [row_columns(row, model) for row in rescored]
    await repository.upsert_profiles(session, columns, locked=locked)
    return rescored


def _cutoffs(model: ScoringModel, now: datetime) -> LifecycleCutoffs:
    policy = model.policy.lifecycle
    return LifecycleCutoffs(
        new_before=now - timedelta(days=policy.new_days),
        active_since=now - timedelta(days=policy.active_days),
        at_risk_since=now - timedelta(days=policy.lapsed_days),
    )
