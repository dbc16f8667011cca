"""The claim page's own reads (the claims themselves are the claim service's)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import Coupon


async def coupon_of(session: AsyncSession, claim_id: int) -> Coupon | None:
    """The coupon the claim became."""
    return await session.scalar(select(Coupon).where(Coupon.claim_id == claim_id))
