"""All SQL of scoring."""

from datetime import datetime

from sqlalchemy import Boolean, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import FanProfile


async def add_interaction(
    session: AsyncSession, *, fan_key: str, platform: str, account: str, occurred_at: datetime
) -> tuple[FanProfile, bool]:
    """Count one interaction; returns the profile and whether this created it.

    Order-independent: first/last seen take the min/max, so late events land correctly.
    """
    table = FanProfile.__table__
    new = insert(FanProfile).values(
        fan_key=fan_key,
        platform=platform,
        account=account,
        interaction_count=1,
        first_seen_at=occurred_at,
        last_seen_at=occurred_at,
    )
    upsert = new.on_conflict_do_update(
        index_elements=[table.c.fan_key],
        set_={
            "interaction_count": table.c.interaction_count + 1,
            "first_seen_at": func.least(table.c.first_seen_at, new.excluded.first_seen_at),
            "last_seen_at": func.greatest(table.c.last_seen_at, new.excluded.last_seen_at),
            "updated_at": func.now(),
        },
    )
    created = literal_column("xmax = 0", Boolean).label("created")  # no prior row version
    row = (await session.execute(upsert.returning(FanProfile, created))).one()
    return row[0], bool(row.created)


async def get_profile(session: AsyncSession, fan_key: str) -> FanProfile | None:
    return await session.scalar(select(FanProfile).where(FanProfile.fan_key == fan_key))
