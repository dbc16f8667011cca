"""coupons' tables. Money is integer cents (bigint), times are timezone-aware UTC.

No foreign key points at a row many transactions write at once: each would take a share lock on
it (a multixact per new holder), which is the hot row the budget slices exist to avoid. Packets
name their campaign without one; claims reference the share they took, which the claim holds
locked already."""

import uuid
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata

SCHEMA = "coupons"
metadata, infrastructure = service_metadata(SCHEMA)
_WHEN = DateTime(timezone=True)
CampaignStatus = Literal["active", "paused", "ended"]
CouponStatus = Literal["active", "redeemed"]
Reversal = Literal["refund", "api"]


class Base(DeclarativeBase):
    metadata = metadata


class Order(Base):
    """The shop orders coupons has seen: what packets are issued for and referrals reward."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("status IN ('paid', 'refunded')", name="known_status"),
    )

    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fan_key: Mapped[str] = mapped_column(String(400), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    paid_at: Mapped[datetime | None] = mapped_column(_WHEN)
    refunded_at: Mapped[datetime | None] = mapped_column(_WHEN)


class Campaign(Base):
    """A brand account's red-packet campaign: its budget (held in `BudgetSlice` rows) and its
    terms (`services/coupons/terms.py`, validated before they are written)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused', 'ended')", name="known_status"),
        CheckConstraint("budget_cents >= 0", name="budget_not_negative"),
        CheckConstraint("budget_slices BETWEEN 1 AND 256", name="slices_in_range"),
        CheckConstraint("shares_per_packet BETWEEN 1 AND 1000", name="shares_in_range"),
        CheckConstraint("split IN ('lucky', 'equal')", name="known_split"),
        CheckConstraint("min_share_cents >= 1", name="min_share_positive"),
        CheckConstraint("claim_window_seconds > 0", name="window_positive"),
        CheckConstraint("audience IN ('anyone', 'new_customers')", name="known_audience"),
        CheckConstraint("daily_claim_cap IS NULL OR daily_claim_cap >= 1", name="cap_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[CampaignStatus] = mapped_column(String(16))
    budget_cents: Mapped[int] = mapped_column(BigInteger)
    budget_slices: Mapped[int]
    shares_per_packet: Mapped[int]
    split: Mapped[str] = mapped_column(String(8))
    min_share_cents: Mapped[int] = mapped_column(BigInteger)
    claim_window_seconds: Mapped[int]
    audience: Mapped[str] = mapped_column(String(16))
    daily_claim_cap: Mapped[int | None]
    time_zone: Mapped[str] = mapped_column(String(64))
    packet_rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    coupon_terms: Mapped[dict[str, Any]] = mapped_column(JSONB)
    referral_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(_WHEN)
    updated_at: Mapped[datetime] = mapped_column(_WHEN)


class BudgetSlice(Base):
    """A part of a campaign's unissued budget. Issuing draws from one slice that no other issue
    holds (SKIP LOCKED), so issues run side by side instead of queueing on one row."""

    __tablename__ = "budget_slices"
    __table_args__ = (CheckConstraint("remaining_cents >= 0", name="remaining_not_negative"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    slice_no: Mapped[int] = mapped_column(primary_key=True)
    remaining_cents: Mapped[int] = mapped_column(BigInteger)


class Packet(Base):
    """A red packet issued to a buyer for an order (once per campaign and order), its total
    already split into `PacketShare` rows."""

    __tablename__ = "packets"
    __table_args__ = (
        UniqueConstraint("campaign_id", "order_id"),
        CheckConstraint("total_cents >= 1", name="total_positive"),
        CheckConstraint("shares >= 1", name="shares_positive"),
        CheckConstraint("returned_cents BETWEEN 0 AND total_cents", name="returned_in_total"),
        CheckConstraint("trigger IN ('order', 'manual')", name="known_trigger"),
        CheckConstraint("return_reason IS NULL OR return_reason IN ('expired', 'withdrawn')",
                        name="known_return_reason"),
        # what the expiry sweep looks for: packets whose money has not gone back yet
        Index("ix_packets_unreturned", "claim_ends_at",
              postgresql_where=text("returned_at IS NULL")),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    campaign_id: Mapped[uuid.UUID]
    account: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[str] = mapped_column(String(200))
    owner_fan_key: Mapped[str] = mapped_column(String(400), index=True)
    owner_phone_sha256: Mapped[str | None] = mapped_column(String(64))
    owner_device_sha256: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int]
    share_code: Mapped[str] = mapped_column(String(64), unique=True)
    trigger: Mapped[str] = mapped_column(String(8))
    issued_at: Mapped[datetime] = mapped_column(_WHEN)
    claim_ends_at: Mapped[datetime] = mapped_column(_WHEN)
    returned_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    returned_at: Mapped[datetime | None] = mapped_column(_WHEN)
    # Why what nobody claimed went back: `expired` (the window closed) or `withdrawn` (the
    # order was refunded first); set with `returned_at`, once.
    return_reason: Mapped[str | None] = mapped_column(String(16))


class PacketShare(Base):
    """One share of a packet, cut at issue; claimed by one fan at most."""

    __tablename__ = "packet_shares"
    __table_args__ = (CheckConstraint("amount_cents >= 1", name="amount_positive"),)

    packet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("packets.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    claimed_by: Mapped[str | None] = mapped_column(String(400))
    claimed_at: Mapped[datetime | None] = mapped_column(_WHEN)


class Claim(Base):
    """A fan's claim of a share: one per fan and packet, one per share."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("packet_id", "fan_key"),
        UniqueConstraint("packet_id", "seq"),
        ForeignKeyConstraint(
            ["packet_id", "seq"], ["packet_shares.packet_id", "packet_shares.seq"]
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(index=True)
    packet_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    fan_key: Mapped[str] = mapped_column(String(400))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    phone_sha256: Mapped[str | None] = mapped_column(String(64))
    device_sha256: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(_WHEN)


class Coupon(Base):
    """The coupon a claim became: a unique unguessable code, good for one use at a time."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'redeemed')", name="known_status"),
        CheckConstraint("amount_cents >= 1", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), unique=True)
    campaign_id: Mapped[uuid.UUID]
    holder_fan_key: Mapped[str] = mapped_column(String(400), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    min_spend_cents: Mapped[int] = mapped_column(BigInteger)
    accounts: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[CouponStatus] = mapped_column(String(16))
    valid_from: Mapped[datetime] = mapped_column(_WHEN)
    expires_at: Mapped[datetime] = mapped_column(_WHEN)


class Redemption(Base):
    """A coupon used on an order; at most one not reversed per coupon."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("account", "idempotency_key"),
        Index("uq_redemptions_active_coupon", "coupon_id", unique=True,
              postgresql_where=text("reversed_at IS NULL")),
        Index("ix_redemptions_order", "account", "order_id"),
        CheckConstraint("reversal IS NULL OR reversal IN ('refund', 'api')", name="known_reversal"),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"))
    account: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[str] = mapped_column(String(200))
    fan_key: Mapped[str] = mapped_column(String(400))
    order_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    redeemed_at: Mapped[datetime] = mapped_column(_WHEN)
    reversed_at: Mapped[datetime | None] = mapped_column(_WHEN)
    reversal: Mapped[Reversal | None] = mapped_column(String(8))


class ClaimCounter(Base):
    """A fan's claims in one campaign on one of its days, against the daily cap."""

    __tablename__ = "claim_counters"

    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    claims: Mapped[int]


class FanIdentity(Base):
    """The person a fan identity belongs to, as scoring last announced it (`person_key`)."""

    __tablename__ = "fan_identities"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(400), index=True)
    updated_at: Mapped[datetime] = mapped_column(_WHEN)


class Referral(Base):
    """Who brought a fan to a campaign: the owner of the first packet they claimed in it."""

    __tablename__ = "referrals"

    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    referred_fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    referrer_fan_key: Mapped[str] = mapped_column(String(400), index=True)
    packet_id: Mapped[uuid.UUID]
    claim_id: Mapped[int] = mapped_column(BigInteger)
    referred_at: Mapped[datetime] = mapped_column(_WHEN)


class IssueRefusal(Base):
    """Why an order got no packet of a campaign (the budget short, say): kept, not retried."""

    __tablename__ = "issue_refusals"

    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    total_cents: Mapped[int | None] = mapped_column(BigInteger)
    refused_at: Mapped[datetime] = mapped_column(_WHEN)


class BrandApiKey(Base):
    """A brand account's key to the claim and redeem API, kept hashed."""

    __tablename__ = "brand_api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_WHEN)
    revoked_at: Mapped[datetime | None] = mapped_column(_WHEN)


class ReturnedShare(Base):
    """A share nobody claimed, moved out of `packet_shares` when its packet's money went back
    to the budget (so no claim can take it after): the record of what returned."""

    __tablename__ = "returned_shares"

    packet_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    returned_at: Mapped[datetime] = mapped_column(_WHEN)


class ReferralReward(Base):
    """What a referrer earned when the fan they referred paid a first order: one per referred
    fan and campaign, charged to the campaign's budget, and given back when that order is
    refunded (`revoked_at`). A reward refused (`refusal`) holds no money and stays final."""

    __tablename__ = "referral_rewards"
    __table_args__ = (
        UniqueConstraint("campaign_id", "referred_fan_key"),
        Index("ix_referral_rewards_order", "account", "order_id"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("refusal IS NULL OR amount_cents = 0", name="refused_holds_nothing"),
        CheckConstraint("revoked_at IS NULL OR refusal IS NULL", name="only_paid_revoked"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    campaign_id: Mapped[uuid.UUID]
    referred_fan_key: Mapped[str] = mapped_column(String(400))
    referrer_fan_key: Mapped[str] = mapped_column(String(400), index=True)
    account: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[str] = mapped_column(String(200))
    order_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    refusal: Mapped[str | None] = mapped_column(String(32))
    rewarded_at: Mapped[datetime] = mapped_column(_WHEN)
    revoked_at: Mapped[datetime | None] = mapped_column(_WHEN)
