"""What changes with the brand and the clock rather than with a fan's events: each brand's cut
points, the tiers that follow them, and lifecycle stages moving on as time passes. Takes the
session first; flushes, never commits."""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

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


async def refresh_cut_points(
    session: AsyncSession, *, model: ScoringModel, outbox: Outbox, now: datetime
) -> list[Brand]:
    """Recompute every brand's cut points (`refresh_brand`) in the caller's transaction; returns
    the brands whose tier cut points moved."""
    return [
        brand
        for brand in await repository.brands(session)
        if await refresh_brand(session, brand, model=model, outbox=outbox, now=now)
    ]


async def refresh_brand(
    session: AsyncSession, brand: Brand, *, model: ScoringModel, outbox: Outbox, now: datetime
) -> bool:
    """Recompute the brand's cut points; where its tier cut points moved, move its fans' tiers
    and announce those who moved. True when they moved."""
    known = await repository.brand_standings(session, [brand])
    previous = known.get(brand) or model.unranked(*brand)
    standing = await brand_standing(session, brand, model=model)
    await repository.save_cut_points(session, brand, standing, at=now)
    if standing.tiers == previous.tiers:
        return False
    await _retier(session, brand, standing.tiers, outbox=outbox, now=now)
    return True


async def brand_standing(
    session: AsyncSession, brand: Brand, *, model: ScoringModel
) -> BrandStanding:
    """The brand's cut points from its fans now: ranks read in SQL, as `quantiles.cut_points`
    takes them."""
    fractions = model.policy.tiers.cut_fractions
    tiers = await _cuts(session, brand, FanProfile.engagement_numerator, fractions)
    monetary = await _cuts(session, brand, FanProfile.monetary_cents, QUINTILES, buyers=True)
    frequency = await _cuts(session, brand, FanProfile.paid_orders, QUINTILES, buyers=True)
    return BrandStanding(
        tiers=_tiers(tiers),
        wallet=WalletCutPoints(
            currency=model.rules(*brand).currency,
            monetary=_four(monetary),
            frequency=_four(frequency),
        ),
    )


async def _cuts(
    session: AsyncSession,
    brand: Brand,
    column: repository.RankedColumn,
    fractions: Sequence[float],
    *,
    buyers: bool = False,
) -> tuple[int, ...]:
    """Empty when the brand has no fans (or buyers) to rank."""
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


async def _retier(
    session: AsyncSession, brand: Brand, cuts: TierCutPoints, *, outbox: Outbox, now: datetime
) -> None:
    moved = await repository.retier(session, brand, cuts)
    cause = f"tier:{{}}:{now.isoformat()}"
    await outbox.add_all(
        session, [announcement(update, cause=cause.format(update.fan_key)) for update in moved]
    )
    for row in moved:
        after_commit(session, metrics.TIER_CHANGES.labels(row.tier).inc)


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
