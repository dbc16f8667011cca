"""coupons' API models. Money is integer cents; times are UTC."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.coupons.models import CampaignStatus, CouponStatus, Reversal
from services.coupons.terms import CampaignTerms, Cents
from shared.contracts import MAX_FAN_KEY, PRINTABLE, Currency, Id


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an IANA time zone: {value!r}") from None
    return value


FanKey = Annotated[
    str, Field(min_length=1, max_length=MAX_FAN_KEY, pattern=PRINTABLE,
               examples=["wechat:oa-brand:o6_bmjrPTlm6_2sgVt7hMZOPfL2M"])
]  # fmt: skip
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lower-case hex")]
TimeZone = Annotated[str, AfterValidator(_known_zone)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]

TERMS_EXAMPLE: dict[str, Any] = {
    "shares_per_packet": 10, "packet_rule": {"kind": "order_share", "basis_points": 500,
    "min_cents": 500, "max_cents": 5000}, "split": "lucky", "min_share_cents": 1,
    "claim_window_seconds": 86400, "audience": "new_customers", "daily_claim_cap": 3,
    "coupon": {"min_spend_cents": 5000, "validity_seconds": 604800, "accounts": []},
    "referral": {"reward_cents": 1000, "min_order_cents": 0},
}  # fmt: skip


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignIn(_In):
    """A new campaign. Its budget is spread over `budget_slices` rows that issues draw from side
    by side: more slices, more packets issued at once (16 suits about 2,000 a second)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account": "shop-1", "name": "Spring referral", "currency": "CNY",
        "budget_cents": 10_000_000, "terms": TERMS_EXAMPLE,
    }]})  # fmt: skip

    account: Id = Field(description="the brand account whose paid orders issue its packets")
    name: Name
    currency: Currency
    budget_cents: Cents
    budget_slices: int = Field(default=16, ge=1, le=256)
    time_zone: TimeZone = Field(default="UTC", description="the day of the daily claim cap")
    status: Literal["active", "paused"] = "active"
    terms: CampaignTerms


class CampaignPatch(_In):
    """What changes; what is left out stays. Terms apply to packets issued from now on. The
    budget may be raised, or lowered by at most what no packet holds."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"budget_cents": 20_000_000}]})

    name: Name | None = None
    status: CampaignStatus | None = None
    budget_cents: Cents | None = None
    terms: CampaignTerms | None = None


class BudgetOut(BaseModel):
    total_cents: int
    left_cents: int = Field(description="not in any packet: what new packets draw from")
    issued_cents: int = Field(description="the totals of the packets issued")
    returned_cents: int = Field(description="what came back from packets to the budget")
    packets: int


class CampaignOut(BaseModel):
    id: uuid.UUID
    account: str
    name: str
    currency: str
    status: CampaignStatus
    time_zone: str
    budget_slices: int
    terms: CampaignTerms
    budget: BudgetOut
    created_at: datetime
    updated_at: datetime


class PacketIssueIn(_In):
    """A packet issued by hand to a fan. `order_id` names what it is for (once per campaign);
    `order_cents` is needed when the campaign's packet total is a share of the order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "owner_fan_key": "standard:shop-1:u42", "order_id": "o-1001", "order_cents": 25_900,
        "currency": "CNY",
    }]})  # fmt: skip

    owner_fan_key: FanKey
    order_id: Id | None = Field(default=None, description="default: a new reference")
    order_cents: Cents | None = None
    currency: Currency | None = None
    owner_phone_sha256: Sha256 | None = None
    owner_device_sha256: Sha256 | None = None


class ClaimOut(BaseModel):
    claim_id: int
    fan_key: str
    amount_cents: int
    claimed_at: datetime
    best_luck: bool = Field(description="the largest share so far (the earlier claim on a tie)")


class PacketOut(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    account: str
    order_id: str
    owner_fan_key: str
    currency: str
    total_cents: int
    shares: int
    share_code: str = Field(description="what the packet's link carries")
    issued_at: datetime
    claim_ends_at: datetime
    claimed_cents: int
    unclaimed_cents: int
    returned_cents: int
    claims: list[ClaimOut]


class ClaimIn(_In):
    """The claimer, as the brand's front end authenticated them; the hashes catch a packet's
    owner claiming under another identity."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "fan_key": "wechat:oa-brand:o6_friend", "phone_sha256": "a" * 64,
    }]})  # fmt: skip

    fan_key: FanKey
    phone_sha256: Sha256 | None = None
    device_sha256: Sha256 | None = None


class CouponOut(BaseModel):
    code: str
    holder_fan_key: str
    amount_cents: int
    currency: str
    min_spend_cents: int
    accounts: list[str]
    status: CouponStatus
    valid_from: datetime
    expires_at: datetime


class ClaimedOut(BaseModel):
    claim_id: int
    packet_id: uuid.UUID
    fan_key: str
    amount_cents: int
    claimed_at: datetime
    coupon: CouponOut


class CheckoutIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "fan_key": "wechat:oa-brand:o6_friend", "order_id": "o-2002", "order_cents": 12_900,
        "currency": "CNY",
    }]})  # fmt: skip

    fan_key: FanKey
    order_id: Id
    order_cents: Cents
    currency: Currency


class ValidationOut(BaseModel):
    valid: bool
    code: str | None = Field(default=None, description="why not, when not valid")
    message: str | None = None
    discount_cents: int = Field(description="what the coupon takes off this order")
    coupon: CouponOut


class RedemptionOut(BaseModel):
    id: uuid.UUID
    coupon_code: str
    account: str
    order_id: str
    fan_key: str
    order_cents: int
    discount_cents: int
    redeemed_at: datetime
    reversed_at: datetime | None
    reversal: Reversal | None


class Refusal(BaseModel):
    code: str = Field(description="one of the documented codes of the action")
    message: str


class RefusalOut(BaseModel):
    detail: Refusal


class ApiKeyIn(_In):
    name: Name = Field(description="what the key is for (the claim page, the shop's checkout)")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="shown once: only its hash is kept")


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account: str
    order_id: str
    fan_key: str
    amount_cents: int
    currency: str
    status: str
    paid_at: datetime | None
    refunded_at: datetime | None
