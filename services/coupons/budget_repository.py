"""SQL of money given back to a campaign's budget slices (drawing is in `repository.py`)."""

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_SLICES = 256  # as the campaigns' check: a start in [0, 256) fits any number of slices

_ADD_TO_FREE = text("""
    WITH chosen AS (
        SELECT slice_no FROM coupons.budget_slices WHERE campaign_id = :campaign_id
        ORDER BY (slice_no + 256 - :start) % 256
        LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    UPDATE coupons.budget_slices AS s SET remaining_cents = s.remaining_cents + :cents
    FROM chosen WHERE s.campaign_id = :campaign_id AND s.slice_no = chosen.slice_no
    RETURNING s.slice_no
""")
_ADD_TO_FIRST = text("""
    UPDATE coupons.budget_slices SET remaining_cents = remaining_cents + :cents
    WHERE campaign_id = :campaign_id AND slice_no = (
        SELECT min(slice_no) FROM coupons.budget_slices WHERE campaign_id = :campaign_id
    )
    RETURNING slice_no
""")


async def add_to_free_slice(
    session: AsyncSession, campaign_id: uuid.UUID, cents: int, *, start: int
) -> bool:
    """Add to one slice no other transaction holds, looking from slice `start` on."""
    values = {"campaign_id": campaign_id, "cents": cents, "start": start}
    return (await session.execute(_ADD_TO_FREE, values)).first() is not None


async def add_to_first_slice(session: AsyncSession, campaign_id: uuid.UUID, cents: int) -> bool:
    """Add to the campaign's first slice, waiting for whoever holds it."""
    values = {"campaign_id": campaign_id, "cents": cents}
    return (await session.execute(_ADD_TO_FIRST, values)).first() is not None
