"""The v1 contracts of coupons' red packets, on `scrm.coupons.v1` (re-exported by
`shared.contracts`, where every contract is found). Money is integer cents."""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared import topics
from shared.contract_types import Cents, Currency, Id
from shared.events import EventData, register


class CouponEvent(EventData):
    topic: ClassVar[str] = topics.COUPONS

    campaign_id: str
    fan_key: str


@register
class PacketIssued(CouponEvent):
    event_type = "scrm.packet.issued.v1"

    packet_id: str
    order_id: str
    total_cents: Cents
    shares: int = Field(ge=1)
    # Added compatibly: absent in events written before campaigns kept them.
    currency: Currency | None = None
    claim_ends_at: AwareDatetime | None = Field(
        default=None, description="when what is not claimed by then returns to the budget"
    )


@register
class ShareClaimed(CouponEvent):
    event_type = "scrm.share.claimed.v1"

    packet_id: str
    coupon_code: str
    amount_cents: Cents
    referrer_fan_key: str
    # Added compatibly: absent in events written before claims kept them.
    claim_id: int | None = Field(default=None, description="claims are numbered in their order")
    currency: Currency | None = None
    coupon_expires_at: AwareDatetime | None = None


class CouponUse(CouponEvent):
    """A coupon applied to an order, or that use undone."""

    coupon_code: str
    order_id: str
    amount_cents: Cents
    # Added compatibly: absent in events written before redemptions kept them.
    redemption_id: str | None = None
    account: Id | None = Field(default=None, description="the brand account of the order")
    currency: Currency | None = None


@register
class CouponRedeemed(CouponUse):
    event_type = "scrm.coupon.redeemed.v1"


@register
class CouponReversed(CouponUse):
    event_type = "scrm.coupon.reversed.v1"

    reason: Literal["refund", "api"] | None = Field(
        default=None, description="the order's refund, or a reversal through the API"
    )


@register
class ReferralRewarded(CouponEvent):
    event_type = "scrm.referral.rewarded.v1"

    referred_fan_key: str
    order_id: str
    reward_cents: Cents
    order_cents: Cents | None = Field(
        default=None,
        description="the amount of the referred customer's first order (`order_id`); None: "
        "not told (scoring counts 0)",
    )
    # Added compatibly: absent in events written before rewards were charged to the budget.
    reward_id: str | None = Field(default=None, description="the reward's id, as revoked")
    account: Id | None = Field(default=None, description="the brand account of the order")
    currency: Currency | None = None


@register
class ReferralRewardRevoked(CouponEvent):
    """A referral reward taken back: the referred customer's first order was refunded. The
    reward's cents went back to the campaign's budget; `fan_key` is the referrer."""

    event_type = "scrm.referral.reward_revoked.v1"

    reward_id: str
    referred_fan_key: str
    order_id: str
    reward_cents: Cents
    account: Id | None = None
    currency: Currency | None = None
    # Added compatibly: absent in events written before scoring took refunded orders back.
    order_cents: Cents | None = Field(
        default=None,
        description="the amount of the refunded first order, as the reward's grant told it; "
        "None: not told (scoring takes the order back, and no cents)",
    )


class PacketReturned(CouponEvent):
    """What nobody claimed of a packet went back to the campaign's budget, once; the claimed
    shares' coupons stay valid. `fan_key` is the packet's owner."""

    packet_id: str
    order_id: str
    total_cents: Cents
    claimed_cents: Cents
    returned_cents: Cents = Field(description="total_cents - claimed_cents, back in the budget")
    currency: Currency | None = None


@register
class PacketExpired(PacketReturned):
    """The packet's claim window closed."""

    event_type = "scrm.packet.expired.v1"


@register
class PacketWithdrawn(PacketReturned):
    """The order the packet was issued for was refunded before its window closed."""

    event_type = "scrm.packet.withdrawn.v1"
