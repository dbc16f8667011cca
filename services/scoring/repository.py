"""All SQL of scoring."""

from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain import ProfileRow
from services.scoring.models import BrandCutPoints, FanProfile
from services.scoring.scores.profile import BrandStanding
from services.scoring.scores.state import FanState
from services.scoring.scores.tiers import TierCutPoints
from services.scoring.scores.wallet import WalletCutPoints

Brand = tuple[str, str]  # platform, account


async def lock_profiles(session: AsyncSession, fan_keys: Sequence[str]) -> dict[str, ProfileRow]:
    """The stored profiles of these fans, locked until the transaction ends (in key order, so
    two transactions locking overlapping fans cannot deadlock)."""
    rows = await session.execute(
        select(FanProfile)
        .where(FanProfile.fan_key.in_(sorted(fan_keys)))
        .order_by(FanProfile.fan_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {profile.fan_key: profile_row(profile) for profile in rows.scalars()}


def profile_row(profile: FanProfile) -> ProfileRow:
    return ProfileRow(
        fan_key=profile.fan_key, platform=profile.platform, account=profile.account,
        first_seen_at=profile.first_seen_at, last_seen_at=profile.last_seen_at,
        state=FanState.model_validate(profile.state),
        scored_at=profile.scored_at or profile.updated_at,
        engagement_numerator=int(profile.engagement_numerator),
        engagement=profile.engagement, influence=profile.influence, wallet=profile.wallet,
        social=profile.social, priority=profile.priority, tier=profile.tier, role=profile.role,
        lifecycle=profile.lifecycle, tags=tuple(profile.tags), components=profile.components,
    )  # fmt: skip


async def upsert_profiles(session: AsyncSession, columns: Sequence[dict[str, object]]) -> None:
    """Write these profiles, new or known, in one statement."""
    if not columns:
        return
    new = insert(FanProfile).values(list(columns))
    updated = {name: new.excluded[name] for name in columns[0] if name != "fan_key"}
    await session.execute(
        new.on_conflict_do_update(index_elements=[FanProfile.fan_key], set_=updated)
    )


async def brand_standings(
    session: AsyncSession, brands: Iterable[Brand]
) -> dict[Brand, BrandStanding]:
    """The stored cut points of these brands; a brand never ranked is left out."""
    rows = await session.scalars(
        select(BrandCutPoints).where(
            tuple_(BrandCutPoints.platform, BrandCutPoints.account).in_(list(brands))
        )
    )
    return {(row.platform, row.account): standing(row) for row in rows}


def standing(row: BrandCutPoints) -> BrandStanding:
    tiers = TierCutPoints(
        occasional=_whole(row.tier_occasional),
        frequent=_whole(row.tier_frequent),
        leader=_whole(row.tier_leader),
    )
    return BrandStanding(tiers=tiers, wallet=WalletCutPoints.model_validate(row.wallet))


def _whole(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


async def get_profile(session: AsyncSession, fan_key: str) -> FanProfile | None:
    return await session.scalar(select(FanProfile).where(FanProfile.fan_key == fan_key))
