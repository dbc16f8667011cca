"""The brand API (bearer: one of the brand account's API keys): what the claim page and the
shop's checkout call. A key opens its own account's packets and coupons only; anything else is
answered 404, as what does not exist."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response

from services.coupons import claims, redemptions, service
from services.coupons.api import (
    NOT_FOUND,
    REFUSED,
    coupon_out,
    packet_out,
    redemption_out,
    refused,
)
from services.coupons.brand_auth import RESPONSES, BrandDep
from services.coupons.caches import EmptyPackets
from services.coupons.claims import ClaimRequest
from services.coupons.redemptions import Checkout
from services.coupons.refusals import MESSAGES, NotFound, Refused
from services.coupons.schemas import (
    CheckoutIn,
    ClaimedOut,
    ClaimIn,
    PacketOut,
    RedemptionOut,
    ValidationOut,
)
from shared.contracts import PRINTABLE
from shared.deps import IdInPath, PartsDep, SessionDep

router = APIRouter(prefix="/v1", tags=["claims and redemptions"], responses=RESPONSES)
ShareCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
CouponCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")]
IdempotencyKey = Annotated[
    str, Header(min_length=1, max_length=200, pattern=PRINTABLE,
                description="names the redemption: the same key again gets the same answer")
]  # fmt: skip


async def empty_packets(request: Request) -> EmptyPackets:
    packets: EmptyPackets = request.app.state.empty_packets
    return packets


EmptyPacketsDep = Annotated[EmptyPackets, Depends(empty_packets)]


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/orders/{order_id}/packets", response_model=list[PacketOut])
async def read_order_packets(
    order_id: IdInPath, account: BrandDep, session: SessionDep
) -> list[PacketOut]:
    """The packets issued for the account's order (one per campaign): the share links to show
    its buyer after checkout. Empty until the order's payment has been processed."""
    pages = await service.packets_of_order(session, account=account, order_id=order_id)
    return [packet_out(page) for page in pages]


@router.get("/packets/{share_code}", response_model=PacketOut, responses=NOT_FOUND)
async def read_packet(share_code: ShareCode, account: BrandDep, session: SessionDep) -> PacketOut:
    """The packet of a share link: its owner, its claims with their amounts, the best luck."""
    try:
        packet = await service.packet_by_code(session, share_code, account=account)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return packet_out(await service.packet_page(session, packet))


@router.post(
    "/packets/{share_code}/claims", response_model=ClaimedOut, status_code=201,
    responses={**NOT_FOUND, **REFUSED, 200: {"description": "claimed before: the same claim"}},
)  # fmt: skip
async def claim_share(
    share_code: ShareCode, body: ClaimIn, account: BrandDep, session: SessionDep,
    parts: PartsDep, empty: EmptyPacketsDep, response: Response,
) -> ClaimedOut:  # fmt: skip
    """Claim a share for the fan: 201 with the coupon it became, 200 with the same when the fan
    claimed it before. Refused (409) with: `campaign_ended`, `window_closed`, `own_packet`,
    `linked_identity`, `same_phone`, `same_device`, `not_new_customer`, `daily_cap_reached`,
    `packet_empty`."""
    request = ClaimRequest(
        share_code=share_code, fan_key=body.fan_key, phone_sha256=body.phone_sha256,
        device_sha256=body.device_sha256,
    )  # fmt: skip
    try:
        claimed = await claims.claim_share(
            session, request, account=account, outbox=parts.outbox, now=_now(), empty=empty
        )
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except Refused as refusal:
        refused(refusal)
    response.status_code = 201 if claimed.new else 200
    return claimed_out(claimed)


def claimed_out(claimed: claims.Claimed) -> ClaimedOut:
    claim = claimed.claim
    return ClaimedOut(
        claim_id=claim.id, packet_id=claim.packet_id, fan_key=claim.fan_key,
        amount_cents=claim.amount_cents, claimed_at=claim.claimed_at,
        coupon=coupon_out(claimed.coupon),
    )  # fmt: skip


def _checkout(account: str, body: CheckoutIn) -> Checkout:
    return Checkout(
        account=account, fan_key=body.fan_key, order_id=body.order_id,
        order_cents=body.order_cents, currency=body.currency,
    )  # fmt: skip


@router.post("/coupons/{code}/validation", response_model=ValidationOut, responses=NOT_FOUND)
async def validate_coupon(
    code: CouponCode, body: CheckoutIn, account: BrandDep, session: SessionDep
) -> ValidationOut:
    """Whether the coupon could be used on the order, and what it would take off; changes
    nothing. The reasons are those of a redemption's refusal."""
    try:
        coupon, refusal = await redemptions.validate(
            session, code, _checkout(account, body), now=_now()
        )
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return ValidationOut(
        valid=refusal is None, code=refusal, message=MESSAGES[refusal] if refusal else None,
        discount_cents=min(coupon.amount_cents, body.order_cents), coupon=coupon_out(coupon),
    )  # fmt: skip


@router.post(
    "/coupons/{code}/redemptions", response_model=RedemptionOut, status_code=201,
    responses={**NOT_FOUND, **REFUSED, 200: {"description": "the same idempotency key again"}},
)  # fmt: skip
async def redeem_coupon(
    code: CouponCode, body: CheckoutIn, idempotency_key: IdempotencyKey, account: BrandDep,
    session: SessionDep, parts: PartsDep, response: Response,
) -> RedemptionOut:  # fmt: skip
    """Use the coupon on the order: at most once, however many requests race. Refused (409)
    with: `not_holder`, `not_yet_valid`, `expired`, `currency_mismatch`,
    `below_minimum_spend`, `already_redeemed`, `idempotency_key_reused`."""
    try:
        redeemed = await redemptions.redeem(
            session, code, _checkout(account, body), idempotency_key=idempotency_key,
            outbox=parts.outbox, now=_now(),
        )  # fmt: skip
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except Refused as refusal:
        refused(refusal)
    response.status_code = 201 if redeemed.new else 200
    return redemption_out(redeemed.redemption, redeemed.coupon)


@router.post(
    "/redemptions/{redemption_id}/reversal", response_model=RedemptionOut, responses=NOT_FOUND
)
async def reverse_redemption(
    redemption_id: uuid.UUID, account: BrandDep, session: SessionDep, parts: PartsDep
) -> RedemptionOut:
    """Give the coupon back (the order was cancelled): once; asked again, the same answer. A
    refund (`order.refunded`) does the same by itself."""
    try:
        reversed_ = await redemptions.reverse(
            session, redemption_id, account=account, outbox=parts.outbox, now=_now()
        )
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return redemption_out(reversed_.redemption, reversed_.coupon)
