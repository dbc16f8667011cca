"""The events coupons announces on `scrm.coupons.v1`, built from the rows they report. Each id
is derived from what it reports, so the same change always has the same event id."""

from datetime import datetime
from typing import TypeVar

from services.coupons.models import Claim, Coupon, Packet, Redemption
from shared.contracts import (
    CouponEvent,
    CouponRedeemed,
    CouponReversed,
    PacketIssued,
    ShareClaimed,
)
from shared.events import CloudEvent, event_id

SOURCE = "scrm/coupons"
CouponT = TypeVar("CouponT", bound=CouponEvent)


def packet_issued(packet: Packet, *, now: datetime) -> CloudEvent[PacketIssued]:
    data = PacketIssued(
        campaign_id=str(packet.campaign_id), fan_key=packet.owner_fan_key,
        packet_id=str(packet.id), order_id=packet.order_id, total_cents=packet.total_cents,
        shares=packet.shares, currency=packet.currency, claim_ends_at=packet.claim_ends_at,
    )  # fmt: skip
    return _event(data, "packet.issued", str(packet.id), now=now)


def share_claimed(
    claim: Claim, coupon: Coupon, *, referrer: str, now: datetime
) -> CloudEvent[ShareClaimed]:
    data = ShareClaimed(
        campaign_id=str(claim.campaign_id), fan_key=claim.fan_key, packet_id=str(claim.packet_id),
        coupon_code=coupon.code, amount_cents=claim.amount_cents, referrer_fan_key=referrer,
        claim_id=claim.id, currency=coupon.currency, coupon_expires_at=coupon.expires_at,
    )  # fmt: skip
    return _event(data, "share.claimed", str(claim.packet_id), claim.fan_key, now=now)


def coupon_redeemed(
    redemption: Redemption, coupon: Coupon, *, now: datetime
) -> CloudEvent[CouponRedeemed]:
    data = CouponRedeemed(**_use(redemption, coupon))
    return _event(data, "coupon.redeemed", str(redemption.id), now=now)


def coupon_reversed(
    redemption: Redemption, coupon: Coupon, *, now: datetime
) -> CloudEvent[CouponReversed]:
    data = CouponReversed(**_use(redemption, coupon), reason=redemption.reversal)
    return _event(data, "coupon.reversed", str(redemption.id), now=now)


def _use(redemption: Redemption, coupon: Coupon) -> dict[str, object]:
    return {
        "campaign_id": str(coupon.campaign_id), "fan_key": coupon.holder_fan_key,
        "coupon_code": coupon.code, "order_id": redemption.order_id,
        "amount_cents": redemption.discount_cents, "redemption_id": str(redemption.id),
        "account": redemption.account, "currency": coupon.currency,
    }  # fmt: skip


def _event(data: CouponT, kind: str, *ids: str, now: datetime) -> CloudEvent[CouponT]:
    return CloudEvent.of(
        data, id=event_id(SOURCE, kind, *ids), source=SOURCE, subject=data.fan_key, time=now
    )
