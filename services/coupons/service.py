"""coupons' rules for orders, linked identities and issuing packets. Takes the session first;
flushes, never commits.

A packet is issued once per campaign and order: the packet row is inserted first, under the
unique (campaign, order), and only then is its total drawn from the budget, so two deliveries
of one order (or an order and an operator) never both spend. A packet is never shrunk to fit:
when the budget cannot cover its whole total nothing is issued, and why is kept in
`issue_refusals` (the order is not retried; an operator may issue by hand after a top-up)."""

import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import announcements, budget, claims_repository, metrics, repository
from services.coupons.campaigns import terms_of
from services.coupons.domain import best_luck, order_status, split_total
from services.coupons.models import Campaign, Claim, Order, Packet
from services.coupons.refusals import IssueRefusalCode, NotFound
from services.coupons.terms import CampaignTerms, packet_total
from shared.contracts import OrderPaid, OrderRefunded, ProfileUpdated
from shared.db import after_commit
from shared.outbox import Outbox

SHARE_CODE_BYTES = 16  # 128 bits: a share link cannot be guessed


@dataclass(frozen=True)
class PacketRequest:
    """A packet to issue to `owner_fan_key` for an order (or an operator's reference)."""

    order_id: str
    owner_fan_key: str
    order_cents: int | None = None
    currency: str | None = None
    owner_phone_sha256: str | None = None
    owner_device_sha256: str | None = None
    trigger: str = "manual"


@dataclass(frozen=True)
class Issued:
    packet: Packet
    new: bool


@dataclass(frozen=True)
class NotIssued:
    code: IssueRefusalCode
    total_cents: int | None


async def record_order(session: AsyncSession, event: OrderPaid | OrderRefunded) -> Order:
    status = order_status(event)
    after_commit(session, metrics.ORDERS.labels(status).inc)
    return await repository.save_order_status(
        session, account=event.account, order_id=event.order_id, fan_key=event.fan_key,
        amount_cents=event.amount_cents, currency=event.currency, status=status,
        at=event.occurred_at,
    )  # fmt: skip


async def get_order(session: AsyncSession, *, account: str, order_id: str) -> Order | None:
    return await repository.get_order(session, account=account, order_id=order_id)


async def link_identity(session: AsyncSession, profile: ProfileUpdated, *, now: datetime) -> None:
    """Keep the person scoring says the identity belongs to (itself when it stands alone)."""
    person = profile.person_key or profile.fan_key
    await repository.save_identity(session, fan_key=profile.fan_key, person_key=person, at=now)


async def issue_for_order(
    session: AsyncSession, order: OrderPaid, *, outbox: Outbox, rng: random.Random, now: datetime
) -> list[Issued | NotIssued]:
    """A packet of each of the account's active campaigns in the order's currency."""
    request = PacketRequest(
        order_id=order.order_id, owner_fan_key=order.fan_key, order_cents=order.amount_cents,
        currency=order.currency, trigger="order",
        owner_phone_sha256=order.identifiers.phone_sha256 if order.identifiers else None,
    )  # fmt: skip
    campaigns = await repository.active_campaigns(
        session, account=order.account, currency=order.currency
    )
    return [
        await issue_packet(session, campaign, request, outbox=outbox, rng=rng, now=now)
        for campaign in campaigns
    ]


async def issue_packet(
    session: AsyncSession, campaign: Campaign, request: PacketRequest, *,
    outbox: Outbox, rng: random.Random, now: datetime,
) -> Issued | NotIssued:  # fmt: skip
    """The campaign's packet for the order: issued now, issued before, or refused (kept)."""
    existing = await repository.packet_for_order(session, campaign.id, request.order_id)
    if existing is not None:
        return Issued(existing, new=False)
    terms = terms_of(campaign)
    total = packet_total(terms.packet_rule, request.order_cents)
    refusal = _refusal(campaign, terms, request, total)
    if refusal is not None or total is None:
        code = refusal or "order_amount_unknown"
        return await _refuse(session, campaign, request, code, total, now=now)
    packet = await repository.insert_packet(
        session, _packet_row(campaign, terms, request, total, now)
    )
    if packet is None:  # issued meanwhile by another transaction, which has committed
        found = await repository.packet_for_order(session, campaign.id, request.order_id)
        if found is None:
            raise RuntimeError("the packet's unique key conflicted with no committed packet")
        return Issued(found, new=False)
    if not await budget.draw(session, campaign, total, rng=rng):
        await repository.delete_packet(session, packet.id)
        return await _refuse(session, campaign, request, "budget_exhausted", total, now=now)
    amounts = split_total(
        total, terms.shares_per_packet, split=terms.split, minimum=terms.min_share_cents, rng=rng
    )
    await repository.insert_shares(session, packet.id, amounts)
    await outbox.add(session, announcements.packet_issued(packet, now=now))
    after_commit(session, metrics.PACKETS_ISSUED.labels(request.trigger).inc)
    return Issued(packet, new=True)


def _refusal(
    campaign: Campaign, terms: CampaignTerms, request: PacketRequest, total: int | None
) -> IssueRefusalCode | None:
    if campaign.status != "active":
        return "campaign_not_active"
    if request.currency is not None and request.currency != campaign.currency:
        return "currency_mismatch"
    if total is None:
        return "order_amount_unknown"
    if total < terms.least_total:
        return "below_minimum_total"
    return None


async def _refuse(
    session: AsyncSession, campaign: Campaign, request: PacketRequest,
    code: IssueRefusalCode, total: int | None, *, now: datetime,
) -> NotIssued:  # fmt: skip
    await repository.record_issue_refusal(
        session, campaign_id=campaign.id, order_id=request.order_id, reason=code,
        total_cents=total, at=now,
    )  # fmt: skip
    after_commit(session, metrics.ISSUE_REFUSALS.labels(code).inc)
    return NotIssued(code, total)


def _packet_row(
    campaign: Campaign, terms: CampaignTerms, request: PacketRequest, total: int, now: datetime
) -> dict[str, object]:
    return {
        "id": uuid.uuid4(), "campaign_id": campaign.id, "account": campaign.account,
        "order_id": request.order_id, "owner_fan_key": request.owner_fan_key,
        "owner_phone_sha256": request.owner_phone_sha256,
        "owner_device_sha256": request.owner_device_sha256, "currency": campaign.currency,
        "total_cents": total, "shares": terms.shares_per_packet,
        "share_code": secrets.token_urlsafe(SHARE_CODE_BYTES), "trigger": request.trigger,
        "issued_at": now, "claim_ends_at": now + timedelta(seconds=terms.claim_window_seconds),
    }  # fmt: skip


@dataclass(frozen=True)
class PacketPage:
    """A packet with its claims, in claim order, and the best luck among them."""

    packet: Packet
    claims: Sequence[Claim]
    best_luck_claim_id: int | None
    claimed_cents: int


async def packet_by_code(session: AsyncSession, share_code: str, *, account: str) -> Packet:
    packet = await claims_repository.packet_by_code(session, share_code)
    if packet is None or packet.account != account:
        raise NotFound("no such packet")
    return packet


async def packets_of_order(
    session: AsyncSession, *, account: str, order_id: str
) -> list[PacketPage]:
    """The packets the account's campaigns issued for the order: what its buyer shares."""
    found = await claims_repository.packets_of_order(session, account=account, order_id=order_id)
    return [await packet_page(session, packet) for packet in found]


async def packet_of_campaign(
    session: AsyncSession, campaign_id: uuid.UUID, packet_id: uuid.UUID
) -> Packet:
    packet = await session.get(Packet, packet_id)
    if packet is None or packet.campaign_id != campaign_id:
        raise NotFound("no such packet")
    return packet


async def packet_page(session: AsyncSession, packet: Packet) -> PacketPage:
    claims = await claims_repository.claims_of_packet(session, packet.id)
    best = best_luck([(claim.id, claim.amount_cents) for claim in claims])
    return PacketPage(packet, claims, best, sum(claim.amount_cents for claim in claims))


def secure_rng() -> random.Random:
    """The randomness packets are split with: the operating system's, so no one can foresee
    which share is the lucky one."""
    return secrets.SystemRandom()
