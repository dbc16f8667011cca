"""Money in and out of a campaign's budget slices, for what is not a packet's issue: a referral
reward drawn, what nobody claimed and a revoked reward given back. Takes the session first;
flushes, never commits.

Drawing follows the issue's way (`service.py`): one slice no other transaction holds, else all
of them in order. Giving back never fails, so it adds to one free slice (SKIP LOCKED, from a
random one on), and only when every slice is held waits for one of them."""

import random
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import budget_repository, repository
from services.coupons.domain import draw_across
from services.coupons.models import Campaign


async def draw(
    session: AsyncSession, campaign: Campaign, cents: int, *, rng: random.Random
) -> bool:
    """Take `cents` from the campaign's budget; False (nothing taken) when it holds less."""
    start = rng.randrange(campaign.budget_slices)
    if await repository.draw_from_free_slice(
        session, campaign.id, cents, slices=campaign.budget_slices, start=start
    ):
        return True
    slices = await repository.lock_slices(session, campaign.id)
    changed = draw_across({item.slice_no: item.remaining_cents for item in slices}, cents)
    if changed is None:
        return False
    await repository.set_slices(session, campaign.id, changed)
    return True


async def give_back(
    session: AsyncSession, campaign_id: uuid.UUID, cents: int, *, rng: random.Random
) -> None:
    """Add `cents` to the campaign's budget (nothing to do for none)."""
    if cents == 0:
        return
    start = rng.randrange(budget_repository.MAX_SLICES)
    if await budget_repository.add_to_free_slice(session, campaign_id, cents, start=start):
        return
    if not await budget_repository.add_to_first_slice(session, campaign_id, cents):
        raise RuntimeError(f"campaign {campaign_id} has no budget slice to give back to")
