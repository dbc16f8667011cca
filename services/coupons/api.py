"""coupons' read API of orders, and what every router of coupons shares: the answers built
from rows, and refusals answered with their code."""

from typing import NoReturn

from fastapi import APIRouter, HTTPException

from services.coupons import service
from services.coupons.campaigns import Budget, terms_of
from services.coupons.models import Campaign, Coupon, Redemption
from services.coupons.refusals import Refused
from services.coupons.schemas import (
    BudgetOut,
    CampaignOut,
    ClaimOut,
    CouponOut,
    OrderOut,
    PacketOut,
    RedemptionOut,
    RefusalOut,
)
from services.coupons.service import PacketPage
from shared.deps import IdInPath, SessionDep

router = APIRouter(prefix="/v1", tags=["orders"])
REFUSED: dict[int | str, dict[str, object]] = {
    409: {"model": RefusalOut, "description": "refused, with the reason's code and message"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "no such thing here"}}


@router.get("/accounts/{account}/orders/{order_id}", response_model=OrderOut)
async def read_order(account: IdInPath, order_id: IdInPath, session: SessionDep) -> OrderOut:
    order = await service.get_order(session, account=account, order_id=order_id)
    if order is None:
        raise HTTPException(status_code=404, detail=f"no order {order_id} for {account}")
    return OrderOut.model_validate(order)


def refused(refusal: Refused) -> NoReturn:
    """Answer 409 with the refusal's code and message (its transaction rolls back)."""
    raise HTTPException(409, {"code": refusal.code, "message": refusal.message}) from None


def campaign_out(campaign: Campaign, budget: Budget) -> CampaignOut:
    return CampaignOut(
        id=campaign.id, account=campaign.account, name=campaign.name, currency=campaign.currency,
        status=campaign.status,
        time_zone=campaign.time_zone, budget_slices=campaign.budget_slices,
        terms=terms_of(campaign), created_at=campaign.created_at, updated_at=campaign.updated_at,
        budget=BudgetOut(
            total_cents=budget.total_cents, left_cents=budget.left_cents,
            issued_cents=budget.issued_cents, returned_cents=budget.returned_cents,
            packets=budget.packets,
        ),
    )  # fmt: skip


def packet_out(page: PacketPage) -> PacketOut:
    packet = page.packet
    claims = [
        ClaimOut(
            claim_id=claim.id,
            fan_key=claim.fan_key,
            amount_cents=claim.amount_cents,
            claimed_at=claim.claimed_at,
            best_luck=claim.id == page.best_luck_claim_id,
        )
        for claim in page.claims
    ]
    return PacketOut(
        id=packet.id, campaign_id=packet.campaign_id, account=packet.account,
        order_id=packet.order_id, owner_fan_key=packet.owner_fan_key, currency=packet.currency,
        total_cents=packet.total_cents, shares=packet.shares, share_code=packet.share_code,
        issued_at=packet.issued_at, claim_ends_at=packet.claim_ends_at,
        claimed_cents=page.claimed_cents, returned_cents=packet.returned_cents,
        unclaimed_cents=packet.total_cents - page.claimed_cents - packet.returned_cents,
        claims=claims,
    )  # fmt: skip


def coupon_out(coupon: Coupon) -> CouponOut:
    return CouponOut(
        code=coupon.code, holder_fan_key=coupon.holder_fan_key, amount_cents=coupon.amount_cents,
        currency=coupon.currency, min_spend_cents=coupon.min_spend_cents,
        accounts=list(coupon.accounts), status=coupon.status,
        valid_from=coupon.valid_from, expires_at=coupon.expires_at,
    )  # fmt: skip


def redemption_out(redemption: Redemption, coupon: Coupon) -> RedemptionOut:
    return RedemptionOut(
        id=redemption.id, coupon_code=coupon.code, account=redemption.account,
        order_id=redemption.order_id, fan_key=redemption.fan_key,
        order_cents=redemption.order_cents, discount_cents=redemption.discount_cents,
        redeemed_at=redemption.redeemed_at, reversed_at=redemption.reversed_at,
        reversal=redemption.reversal,
    )  # fmt: skip
