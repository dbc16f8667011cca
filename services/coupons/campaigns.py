"""Campaign rules: made, changed and deleted by operators. Takes the session first; flushes,
never commits.

A campaign's budget is held in `budget_slices` rows, which issues draw from side by side; the
campaign row keeps the budget's total. At every instant: the slices' remaining amounts plus the
totals of the campaign's packets, less what returned from them, make the budget."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import repository
from services.coupons.domain import add_across, draw_across, slice_budget
from services.coupons.models import Campaign, CampaignStatus
from services.coupons.refusals import NotFound
from services.coupons.terms import CampaignTerms


class BudgetTooLow(ValueError):
    """A budget lowered under what its packets hold already."""


class CampaignInUse(ValueError):
    """A campaign with packets cannot be deleted (end it instead)."""


@dataclass(frozen=True)
class NewCampaign:
    account: str
    name: str
    currency: str
    budget_cents: int
    budget_slices: int
    time_zone: str
    terms: CampaignTerms
    status: CampaignStatus = "active"


@dataclass(frozen=True)
class CampaignChange:
    """What an operator changes; None leaves it. New terms apply to packets issued after."""

    name: str | None = None
    status: CampaignStatus | None = None
    budget_cents: int | None = None
    terms: CampaignTerms | None = None


@dataclass(frozen=True)
class Budget:
    total_cents: int
    left_cents: int
    issued_cents: int
    returned_cents: int
    packets: int


def terms_of(campaign: Campaign) -> CampaignTerms:
    return CampaignTerms.model_validate(
        {
            "shares_per_packet": campaign.shares_per_packet, "packet_rule": campaign.packet_rule,
            "split": campaign.split, "min_share_cents": campaign.min_share_cents,
            "claim_window_seconds": campaign.claim_window_seconds,
            "audience": campaign.audience, "daily_claim_cap": campaign.daily_claim_cap,
            "coupon": campaign.coupon_terms, "referral": campaign.referral_terms,
        }
    )  # fmt: skip


def _columns(terms: CampaignTerms) -> dict[str, object]:
    dumped = terms.model_dump(mode="json")
    return {
        "shares_per_packet": terms.shares_per_packet, "packet_rule": dumped["packet_rule"],
        "split": terms.split, "min_share_cents": terms.min_share_cents,
        "claim_window_seconds": terms.claim_window_seconds, "audience": terms.audience,
        "daily_claim_cap": terms.daily_claim_cap, "coupon_terms": dumped["coupon"],
        "referral_terms": dumped["referral"],
    }  # fmt: skip


async def create(session: AsyncSession, new: NewCampaign, *, now: datetime) -> Campaign:
    campaign = Campaign(
        id=uuid.uuid4(), account=new.account, name=new.name, currency=new.currency,
        status=new.status, budget_cents=new.budget_cents, budget_slices=new.budget_slices,
        time_zone=new.time_zone, created_at=now, updated_at=now, **_columns(new.terms),
    )  # fmt: skip
    await repository.add_campaign(
        session, campaign, slice_budget(new.budget_cents, new.budget_slices)
    )
    return campaign


async def get(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    campaign = await repository.get_campaign(session, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    return campaign


async def list_all(session: AsyncSession, *, account: str | None) -> Sequence[Campaign]:
    return await repository.list_campaigns(session, account=account)


async def budget(session: AsyncSession, campaign: Campaign) -> Budget:
    left = await repository.budget_left(session, campaign.id)
    packets, issued, returned = await repository.budget_spent(session, campaign.id)
    return Budget(campaign.budget_cents, left, issued, returned, packets)


async def change(
    session: AsyncSession, campaign_id: uuid.UUID, change: CampaignChange, *, now: datetime
) -> Campaign:
    campaign = await repository.lock_campaign(session, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    if change.budget_cents is not None and change.budget_cents != campaign.budget_cents:
        await _rebudget(session, campaign, change.budget_cents)
    if change.name is not None:
        campaign.name = change.name
    if change.status is not None:
        campaign.status = change.status
    if change.terms is not None:
        for column, value in _columns(change.terms).items():
            setattr(campaign, column, value)
    campaign.updated_at = now
    await session.flush()
    return campaign


async def _rebudget(session: AsyncSession, campaign: Campaign, budget_cents: int) -> None:
    """A new total: the difference added to the slices, or taken from what they hold."""
    slices = await repository.lock_slices(session, campaign.id)
    remaining = {item.slice_no: item.remaining_cents for item in slices}
    more = budget_cents - campaign.budget_cents
    changed = add_across(remaining, more) if more > 0 else draw_across(remaining, -more)
    if changed is None:
        left = sum(remaining.values())
        raise BudgetTooLow(
            f"only {left} cents of the budget are not in packets: it can be lowered by that much"
        )
    await repository.set_slices(session, campaign.id, changed)
    campaign.budget_cents = budget_cents


async def delete(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    """Delete a campaign that issued nothing: its slices are locked first, so an issue in flight
    either finishes before (and the campaign is in use) or finds no budget after."""
    campaign = await repository.lock_campaign(session, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    await repository.lock_slices(session, campaign_id)
    packets, _, _ = await repository.budget_spent(session, campaign_id)
    if packets:
        raise CampaignInUse(f"the campaign issued {packets} packets: end it instead")
    await repository.delete_campaign(session, campaign_id)
