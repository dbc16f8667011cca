"""What the claim page shows of a packet to one viewer: who shared it, what the friends who
claimed got and who had the best luck, and the viewer's own share and coupon. Fan keys are
not shown whole: the owner by their handle, other friends by a masked one."""

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.claim_links import ClaimLink
from services.coupons.claim_page.repository import coupon_of
from services.coupons.models import Claim
from services.coupons.service import PacketPage


class FriendOut(BaseModel):
    name: str = Field(description="the friend's masked handle, or the viewer's own")
    you: bool
    amount_cents: int
    claimed_at: datetime
    best_luck: bool


class YoursOut(BaseModel):
    amount_cents: int
    claimed_at: datetime
    coupon_code: str
    coupon_min_spend_cents: int
    coupon_expires_at: datetime


class PageOut(BaseModel):
    owner: str = Field(description="the handle of the fan who shared the packet")
    platform: str
    viewer: str
    viewer_is_owner: bool
    currency: str
    total_cents: int
    shares: int
    claimed_cents: int
    claim_ends_at: datetime
    open: bool = Field(description="whether the claim window is still open")
    friends: list[FriendOut]
    yours: YoursOut | None


def handle(fan_key: str) -> str:
    """The user's part of a fan key (`platform:account:user`)."""
    return fan_key.split(":", 2)[-1]


def masked(fan_key: str) -> str:
    name = handle(fan_key)
    if len(name) <= 4:
        return name[:1] + "***"
    return f"{name[:2]}…{name[-2:]}"


def platform(fan_key: str) -> str:
    return fan_key.split(":", 1)[0] if ":" in fan_key else ""


def _friend(page: PacketPage, claim: Claim, viewer: str) -> FriendOut:
    you = claim.fan_key == viewer
    return FriendOut(
        name=handle(claim.fan_key) if you else masked(claim.fan_key), you=you,
        amount_cents=claim.amount_cents, claimed_at=claim.claimed_at,
        best_luck=claim.id == page.best_luck_claim_id,
    )  # fmt: skip


async def _yours(session: AsyncSession, claims: Sequence[Claim], viewer: str) -> YoursOut | None:
    claim = next((claim for claim in claims if claim.fan_key == viewer), None)
    coupon = None if claim is None else await coupon_of(session, claim.id)
    if claim is None or coupon is None:
        return None
    return YoursOut(
        amount_cents=claim.amount_cents, claimed_at=claim.claimed_at, coupon_code=coupon.code,
        coupon_min_spend_cents=coupon.min_spend_cents, coupon_expires_at=coupon.expires_at,
    )  # fmt: skip


async def page_out(
    session: AsyncSession, page: PacketPage, link: ClaimLink, *, now: datetime
) -> PageOut:
    packet = page.packet
    friends = [_friend(page, claim, link.claimer) for claim in page.claims]
    return PageOut(
        owner=handle(packet.owner_fan_key), platform=platform(packet.owner_fan_key),
        viewer=handle(link.claimer), viewer_is_owner=link.claimer == packet.owner_fan_key,
        currency=packet.currency, total_cents=packet.total_cents, shares=packet.shares,
        claimed_cents=page.claimed_cents, claim_ends_at=packet.claim_ends_at,
        open=now < packet.claim_ends_at, friends=friends,
        yours=await _yours(session, page.claims, link.claimer),
    )  # fmt: skip
