"""Claim rules: a friend opens a packet's link and claims a share, which becomes their coupon.
Takes the session first; flushes, never commits.

One claim per fan and packet, first come first served: a claim takes one unclaimed share (never
waiting on the packet's row), then inserts the claim under the unique (packet, fan); a fan's
second claim racing the first gives its share back and answers with the first. A claim asked
again gets the same answer (the same claim and coupon). A refusal raises `Refused`, which rolls
back whatever the claim had written."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import announcements, claims_repository, metrics, repository
from services.coupons.campaigns import terms_of
from services.coupons.domain import claim_day
from services.coupons.models import Campaign, Claim, Coupon, Packet
from services.coupons.refusals import ClaimRefusalCode, NotFound, Refused
from services.coupons.terms import CampaignTerms
from shared.db import after_commit
from shared.outbox import Outbox

# Crockford's base32 without the letters read as digits: 16 of them are 80 bits, unguessable,
# and easy to type at a till.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16


@dataclass(frozen=True)
class ClaimRequest:
    """Who claims, as the brand's front end authenticated them."""

    share_code: str
    fan_key: str
    phone_sha256: str | None = None
    device_sha256: str | None = None


@dataclass(frozen=True)
class Claimed:
    claim: Claim
    coupon: Coupon
    new: bool


def coupon_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def claim_share(
    session: AsyncSession, request: ClaimRequest, *, account: str, outbox: Outbox, now: datetime
) -> Claimed:
    """The fan's claim of a share of the packet (`account`'s, else NotFound). What needs no
    more than the packet is refused first, so that the many who come to a packet already
    emptied cost two queries each."""
    found = await claims_repository.packet_with_claim(
        session, share_code=request.share_code, fan_key=request.fan_key
    )
    if found is None or found[0].account != account:
        raise NotFound("no such packet")
    packet, earlier = found
    if earlier is not None:
        _count(session, "repeated")
        return Claimed(*earlier, new=False)
    if now >= packet.claim_ends_at:
        _refuse("window_closed")
    if request.fan_key == packet.owner_fan_key:
        _refuse("own_packet")
    if not await claims_repository.has_unclaimed(session, packet.id):
        return await _empty(session, packet, request)
    campaign = await repository.get_campaign(session, packet.campaign_id)
    if campaign is None:
        raise NotFound("no such packet")
    terms = terms_of(campaign)
    await _check(session, campaign, terms, packet, request)
    return await _take(session, campaign, terms, packet, request, outbox=outbox, now=now)


async def _check(
    session: AsyncSession, campaign: Campaign, terms: CampaignTerms, packet: Packet,
    request: ClaimRequest,
) -> None:  # fmt: skip
    """Refuse what no share may go to; the cap and an empty packet are found when taking."""
    if campaign.status == "ended":
        _refuse("campaign_ended")
    code = await _self_referral(session, packet, request)
    if code is not None:
        _refuse(code)
    if terms.audience == "new_customers":
        person = await repository.person_of(session, request.fan_key)
        identities = await repository.identities_of(session, person)
        accounts = sorted({campaign.account, *terms.coupon.accounts})
        if await claims_repository.ordered_before(session, fan_keys=identities, accounts=accounts):
            _refuse("not_new_customer")


async def _self_referral(
    session: AsyncSession, packet: Packet, request: ClaimRequest
) -> ClaimRefusalCode | None:
    """Whether the claimer is the packet's owner under another identity: linked to theirs by
    scoring, or with the same phone or device."""
    if await repository.person_of(session, request.fan_key) == await repository.person_of(
        session, packet.owner_fan_key
    ):
        return "linked_identity"
    if request.phone_sha256 and request.phone_sha256 == packet.owner_phone_sha256:
        return "same_phone"
    if request.device_sha256 and request.device_sha256 == packet.owner_device_sha256:
        return "same_device"
    return None


async def _take(
    session: AsyncSession, campaign: Campaign, terms: CampaignTerms, packet: Packet,
    request: ClaimRequest, *, outbox: Outbox, now: datetime,
) -> Claimed:  # fmt: skip
    share = await claims_repository.take_share(
        session, packet_id=packet.id, fan_key=request.fan_key, now=now
    )
    if share is None:
        return await _empty(session, packet, request)
    seq, amount = share
    claim = await claims_repository.insert_claim(session, {
        "campaign_id": campaign.id, "packet_id": packet.id, "seq": seq,
        "fan_key": request.fan_key, "amount_cents": amount, "phone_sha256": request.phone_sha256,
        "device_sha256": request.device_sha256, "claimed_at": now,
    })  # fmt: skip
    if claim is None:  # the fan's other claim of the packet committed meanwhile
        await claims_repository.release_share(session, packet_id=packet.id, seq=seq)
        return await _earlier(session, packet, request)
    await _count_today(session, campaign, request, now=now)
    coupon = await _coupon(session, campaign, terms, claim, now=now)
    await _refer(session, packet, claim)
    referrer = packet.owner_fan_key
    await outbox.add(
        session, announcements.share_claimed(claim, coupon, referrer=referrer, now=now)
    )
    _count(session, "claimed")
    return Claimed(claim, coupon, new=True)


async def _empty(session: AsyncSession, packet: Packet, request: ClaimRequest) -> Claimed:
    """Every share is claimed: refused, unless the fan's own claim, racing this one (and
    committed since this one began), took the last."""
    if await claims_repository.claim_of(session, packet_id=packet.id, fan_key=request.fan_key):
        return await _earlier(session, packet, request)
    _refuse("packet_empty")


async def _earlier(session: AsyncSession, packet: Packet, request: ClaimRequest) -> Claimed:
    earlier = await claims_repository.claim_of(
        session, packet_id=packet.id, fan_key=request.fan_key
    )
    if earlier is None:
        raise RuntimeError("the claim's unique key conflicted with no committed claim")
    _count(session, "repeated")
    return Claimed(*earlier, new=False)


async def _count_today(
    session: AsyncSession, campaign: Campaign, request: ClaimRequest, *, now: datetime
) -> None:
    """Count the claim towards the fan's daily cap, after the share is theirs: a fan's claims
    racing on one packet count once."""
    cap = campaign.daily_claim_cap
    if cap is None:
        return
    day = claim_day(now, campaign.time_zone)
    if not await claims_repository.count_claim(
        session, campaign_id=campaign.id, fan_key=request.fan_key, day=day, cap=cap
    ):
        _refuse("daily_cap_reached")


async def _coupon(
    session: AsyncSession, campaign: Campaign, terms: CampaignTerms, claim: Claim, *,
    now: datetime,
) -> Coupon:  # fmt: skip
    accounts = list(terms.coupon.accounts) or [campaign.account]
    return await claims_repository.insert_coupon(session, {
        "code": coupon_code(), "claim_id": claim.id, "campaign_id": campaign.id,
        "holder_fan_key": claim.fan_key, "amount_cents": claim.amount_cents,
        "currency": campaign.currency, "min_spend_cents": terms.coupon.min_spend_cents,
        "accounts": accounts, "status": "active", "valid_from": now,
        "expires_at": now + timedelta(seconds=terms.coupon.validity_seconds),
    })  # fmt: skip


async def _refer(session: AsyncSession, packet: Packet, claim: Claim) -> None:
    await claims_repository.refer(session, {
        "campaign_id": packet.campaign_id, "referred_fan_key": claim.fan_key,
        "referrer_fan_key": packet.owner_fan_key, "packet_id": packet.id,
        "claim_id": claim.id, "referred_at": claim.claimed_at,
    })  # fmt: skip


def _refuse(code: ClaimRefusalCode) -> NoReturn:
    """Raise the refusal, counted now: its transaction rolls back, so after_commit never runs."""
    metrics.CLAIMS.labels(code).inc()
    raise Refused(code)


def _count(session: AsyncSession, outcome: str) -> None:
    after_commit(session, metrics.CLAIMS.labels(outcome).inc)
