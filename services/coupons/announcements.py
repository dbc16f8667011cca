"""The events coupons announces on `scrm.coupons.v1`, built from the rows they report. Each id
is derived from what it reports, so the same change always has the same event id."""

from datetime import datetime
from typing import TypeVar

from services.coupons.models import Claim, Coupon, Packet, Redemption, ReferralReward
from shared.contracts import (
    CouponEvent,
    CouponRedeemed,
    CouponReversed,
    PacketExpired,
    PacketIssued,
    PacketReturned,
    PacketWithdrawn,
    ReferralRewarded,
    ReferralRewardRevoked,
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


def packet_returned(packet: Packet, *, now: datetime) -> CloudEvent[PacketReturned]:
    """The packet's unclaimed cents back in the budget: expired, or withdrawn on a refund."""
    withdrawn = packet.return_reason == "withdrawn"
    kind = PacketWithdrawn if withdrawn else PacketExpired
    data: PacketReturned = kind(
        campaign_id=str(packet.campaign_id), fan_key=packet.owner_fan_key,
        packet_id=str(packet.id), order_id=packet.order_id,
        total_cents=packet.total_cents, returned_cents=packet.returned_cents,
        claimed_cents=packet.total_cents - packet.returned_cents, currency=packet.currency,
    )  # fmt: skip
    name = "packet.withdrawn" if withdrawn else "packet.expired"
    return _event(data, name, str(packet.id), now=now)


def referral_rewarded(reward: ReferralReward, *, now: datetime) -> CloudEvent[ReferralRewarded]:
    data = ReferralRewarded(
        campaign_id=str(reward.campaign_id), fan_key=reward.referrer_fan_key,
        referred_fan_key=reward.referred_fan_key, order_id=reward.order_id,
        reward_cents=reward.amount_cents, order_cents=reward.order_cents,
        reward_id=str(reward.id), account=reward.account, currency=reward.currency,
    )  # fmt: skip
    return _event(data, "referral.rewarded", str(reward.id), now=now)


def reward_revoked(reward: ReferralReward, *, now: datetime) -> CloudEvent[ReferralRewardRevoked]:
    data = ReferralRewardRevoked(
        campaign_id=str(reward.campaign_id), fan_key=reward.referrer_fan_key,
        reward_id=str(reward.id), referred_fan_key=reward.referred_fan_key,
        order_id=reward.order_id, reward_cents=reward.amount_cents, account=reward.account,
        currency=reward.currency, order_cents=reward.order_cents,
    )  # fmt: skip
    return _event(data, "referral.reward_revoked", str(reward.id), now=now)


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
