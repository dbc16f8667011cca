"""A campaign's terms: what its packets hold, who may claim them, and what their coupons are
worth. Validated once, here, whether they come from the operator API or from the database."""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.coupons.domain import Split
from shared.contracts import Id

Cents = Annotated[int, Field(ge=0, lt=2**63)]
PositiveCents = Annotated[int, Field(ge=1, lt=2**63)]
DAY = 86_400


class _Terms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FixedTotal(_Terms):
    """Every packet holds the same total."""

    kind: Literal["fixed"] = "fixed"
    total_cents: PositiveCents


class OrderShare(_Terms):
    """A packet holds a share of its order: `basis_points` of the amount (1,000 = 10%), rounded
    down, then kept within `min_cents` and `max_cents`."""

    kind: Literal["order_share"] = "order_share"
    basis_points: int = Field(ge=1, le=10_000)
    min_cents: Cents = 0
    max_cents: PositiveCents | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        if self.max_cents is not None and self.max_cents < self.min_cents:
            raise ValueError("max_cents is below min_cents")
        return self


PacketRule = Annotated[FixedTotal | OrderShare, Field(discriminator="kind")]


def packet_total(rule: FixedTotal | OrderShare, order_cents: int | None) -> int | None:
    """The total a packet for an order of `order_cents` holds; None when the rule needs the
    order's amount and it is not known."""
    if isinstance(rule, FixedTotal):
        return rule.total_cents
    if order_cents is None:
        return None
    total = max(order_cents * rule.basis_points // 10_000, rule.min_cents)
    return total if rule.max_cents is None else min(total, rule.max_cents)


class CouponTerms(_Terms):
    """What a claimed share's coupon is good for: orders of at least `min_spend_cents`, for
    `validity_seconds` after the claim, on the brand accounts named (none: the campaign's own)."""

    min_spend_cents: Cents = 0
    validity_seconds: int = Field(default=30 * DAY, ge=60, le=366 * DAY)
    accounts: tuple[Id, ...] = Field(default=(), max_length=50)


class ReferralTerms(_Terms):
    """What a packet's owner earns when a friend they referred pays a first order."""

    reward_cents: Cents = 0
    min_order_cents: Cents = 0


class CampaignTerms(_Terms):
    """How a campaign's packets are made and claimed."""

    shares_per_packet: int = Field(ge=1, le=1000)
    packet_rule: PacketRule
    split: Split = "lucky"
    min_share_cents: PositiveCents = 1
    claim_window_seconds: int = Field(default=DAY, ge=60, le=30 * DAY)
    audience: Literal["anyone", "new_customers"] = "anyone"
    daily_claim_cap: int | None = Field(default=None, ge=1, le=10_000)
    coupon: CouponTerms = Field(default_factory=CouponTerms)
    referral: ReferralTerms | None = None

    @model_validator(mode="after")
    def _fixed_total_fits_the_shares(self) -> Self:
        least = self.shares_per_packet * self.min_share_cents
        rule = self.packet_rule
        if isinstance(rule, FixedTotal) and rule.total_cents < least:
            raise ValueError(f"a fixed total under {least} cents cannot make the shares")
        if isinstance(rule, OrderShare) and rule.max_cents is not None and rule.max_cents < least:
            raise ValueError(f"a max_cents under {least} cents cannot make the shares")
        return self

    @property
    def least_total(self) -> int:
        return self.shares_per_packet * self.min_share_cents
