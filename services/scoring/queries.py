"""What scoring's API reads: a fan's profile, a brand's fans filtered and sorted a page at a
time, and how its audience divides. The writes of the consumer and the refresher are in
`repository`."""

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, Numeric, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import identity_graph
from services.scoring.models import FanProfile
from services.scoring.repository import RankedColumn


async def get_profile(session: AsyncSession, fan_key: str) -> FanProfile | None:
    return await session.scalar(select(FanProfile).where(FanProfile.fan_key == fan_key))


async def person_identities(session: AsyncSession, person_key: str) -> list[dict[str, object]]:
    """The identities of a person with their own channel data and the identifiers each
    carries, in key order."""
    members = list(
        await session.scalars(
            select(FanProfile)
            .where(FanProfile.person_key == person_key)
            .order_by(FanProfile.fan_key)
        )
    )
    kinds = await identity_graph.identifiers_of(session, [member.fan_key for member in members])
    return [
        {"fan_key": member.fan_key, "platform": member.platform, "account": member.account,
         "interaction_count": member.interaction_count, "first_seen_at": member.first_seen_at,
         "last_seen_at": member.last_seen_at, "linked_by": sorted(kinds.get(member.fan_key, ()))}
        for member in members
    ]  # fmt: skip


async def missing_profiles(session: AsyncSession, fan_keys: Collection[str]) -> list[str]:
    """Those of these fans that have no profile, in key order."""
    found = set(
        await session.scalars(select(FanProfile.fan_key).where(FanProfile.fan_key.in_(fan_keys)))
    )
    return sorted(set(fan_keys) - found)


@dataclass(frozen=True)
class FanFilter:
    account: str
    tier: str | None = None
    role: str | None = None
    tag: str | None = None
    lifecycle: str | None = None
    min_priority: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found = [FanProfile.account == self.account]
        for column, value in ((FanProfile.tier, self.tier), (FanProfile.role, self.role),
                              (FanProfile.lifecycle, self.lifecycle)):  # fmt: skip
            if value is not None:
                found.append(column == value)
        if self.tag is not None:
            found.append(FanProfile.tags.contains([self.tag]))
        if self.min_priority is not None:
            found.append(FanProfile.priority >= self.min_priority)
        return found


SORT_COLUMNS: dict[str, RankedColumn] = {
    "priority": FanProfile.priority,
    "wallet": FanProfile.wallet,
    "social": FanProfile.social,
    "engagement": FanProfile.engagement_numerator,  # ranks as the score at any common time
    "influence": FanProfile.influence,
}


async def list_fans(
    session: AsyncSession,
    where: FanFilter,
    *,
    sort: str,
    limit: int,
    after: tuple[Decimal, str] | None = None,
) -> list[FanProfile]:
    """The brand's fans, highest `sort` first (ties: fan key, descending), after a keyset."""
    column = SORT_COLUMNS[sort]
    query = select(FanProfile).where(*where.conditions())
    if after is not None:
        value = after[0] if isinstance(column.type, Numeric) else int(after[0])
        query = query.where(tuple_(column, FanProfile.fan_key) < tuple_(value, after[1]))
    query = query.order_by(column.desc(), FanProfile.fan_key.desc()).limit(limit)
    return list(await session.scalars(query))


async def audience_counts(session: AsyncSession, account: str) -> dict[str, dict[str | None, int]]:
    """How many of the account's fans are in each tier, role and lifecycle stage."""
    counts: dict[str, dict[str | None, int]] = {}
    for name in ("tier", "role", "lifecycle"):
        column = getattr(FanProfile, name)
        rows = await session.execute(
            select(column, func.count()).where(FanProfile.account == account).group_by(column)
        )
        counts[name] = {row[0]: int(row[1]) for row in rows}
    for name in VALUE_SCORES:
        bucket = func.least(getattr(FanProfile, name) // 10, 9)  # 0 to 9
        rows = await session.execute(
            select(bucket, func.count()).where(FanProfile.account == account).group_by(bucket)
        )
        found = {int(row[0]): int(row[1]) for row in rows}
        counts[name] = {VALUE_BANDS[band]: found.get(band, 0) for band in range(10)}
    return counts


VALUE_SCORES = ("wallet", "social", "priority")  # out of 100
VALUE_BANDS = [f"{10 * band}-{10 * band + 9}" for band in range(9)] + ["90-100"]
