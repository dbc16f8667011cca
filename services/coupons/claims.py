"""Claim rules: a friend opens a packet's link and claims a share, which becomes their coupon.
Takes the session first; flushes, never commits.

One claim per fan and packet, first come first served: a claim takes one unclaimed share (never
waiting on the packet's row), then inserts the claim under the unique (packet, fan); a fan's
second claim racing the first gives its share back and answers with the first. A claim asked
again gets the same answer (the same claim and coupon). A refusal raises `Refused`, which rolls
back whatever the claim had written.

A claim is two statements when nothing races it: what it checks, read at one instant, then the
share taken with the claim, count, coupon and referral written at once; then its event. Only
a packet whose free shares are all held by claims in flight, or a fan's racing claims, take
the longer way, a statement a step (`_claim_step_by_step`). A packet found empty is remembered
for a few seconds with its claimers (`EmptyPackets`): the many who come to it then are refused
without the database, and its claimers get their own claim, as before.

`claim_share` runs in a session or in a driver transaction (`shared.db.driver_transaction`,
the claim door's): the two statements and the event need no session; the longer way does, and
raises `NeedsSession` in a driver transaction, for the caller to claim again in a session."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import announcements, claims_repository, metrics, repository
from services.coupons.caches import EmptyPacket, EmptyPackets
from services.coupons.campaigns import terms_of
from services.coupons.claims_repository import ClaimContext
from services.coupons.domain import claim_day
from services.coupons.models import Campaign, Claim, Coupon, Packet
from services.coupons.refusals import ClaimRefusalCode, NotFound, Refused
from services.coupons.terms import CampaignTerms
from shared.contracts import ShareClaimed
from shared.db import Tx, after_commit, session_of
from shared.events import CloudEvent
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
    """80 random bits, five to a letter (one draw from the system, not one a letter)."""
    bits = int.from_bytes(secrets.token_bytes(CODE_LENGTH * 5 // 8))
    return "".join(CODE_ALPHABET[(bits >> (5 * n)) & 31] for n in range(CODE_LENGTH))


async def claim_share(
    tx: Tx, request: ClaimRequest, *, account: str, outbox: Outbox, now: datetime,
    empty: EmptyPackets | None = None,
) -> Claimed:  # fmt: skip
    """The fan's claim of a share of the packet (`account`'s, else NotFound). What needs no
    more than the packet is refused first, the campaign's rules next."""
    known_empty = refuse_known_empty(empty, request, account=account, now=now)
    if known_empty is not None:
        return await _earlier(session_of(tx), known_empty.id, request)
    found = await claims_repository.claim_context(
        tx, share_code=request.share_code, fan_key=request.fan_key
    )
    earlier = check_packet(found, request, account=account, now=now)
    if earlier is not None:
        return earlier
    assert found is not None  # noqa: S101 (check_packet answers NotFound without it)
    packet = found.packet
    if not found.unclaimed:  # read at the instant the fan's own claim was found missing
        if empty is not None:
            empty.add(packet, await claims_repository.claimers_of(tx, packet.id))
        _refuse("packet_empty")
    take = new_take(check_campaign(found, request), packet, request, now=now)
    return await _claim_at_once(tx, take, request, account=account, outbox=outbox, now=now)


def check_packet(
    found: ClaimContext | None, request: ClaimRequest, *, account: str, now: datetime
) -> Claimed | None:
    """The first rules of a claim on what `claim_context` read: NotFound, the fan's claim of
    the packet (their answer, counted), or a refusal raised; None when they let it on."""
    if found is None or found.packet.account != account:
        raise NotFound("no such packet")
    if found.earlier is not None:
        metrics.CLAIMS.labels("repeated").inc()  # read, not written: no commit to wait for
        return Claimed(*found.earlier, new=False)
    _check_packet(found.packet, request, now=now)
    return None


def check_campaign(found: ClaimContext, request: ClaimRequest) -> Campaign:
    """The campaign's rules on what `claim_context` read, once the packet has a free share:
    the campaign, or NotFound or a refusal raised."""
    campaign = found.campaign
    if campaign is None:
        raise NotFound("no such packet")
    _check_at_once(campaign, found, request)
    return campaign


def refuse_known_empty(
    empty: EmptyPackets | None, request: ClaimRequest, *, account: str, now: datetime
) -> EmptyPacket | None:
    """Refuse a claim of a packet found empty lately (or answer NotFound), without the
    database; the packet when the claimer holds one of its claims, which is their answer; None
    when the packet is not known to be empty."""
    packet = empty.get(request.share_code) if empty is not None else None
    if packet is None:
        return None
    if packet.account != account:
        raise NotFound("no such packet")
    if request.fan_key in packet.claimers:
        return packet
    if now >= packet.claim_ends_at:
        _refuse("window_closed")
    if request.fan_key == packet.owner_fan_key:
        _refuse("own_packet")
    _refuse("packet_empty")


def _check_packet(packet: Packet, request: ClaimRequest, *, now: datetime) -> None:
    if now >= packet.claim_ends_at:
        _refuse("window_closed")
    if request.fan_key == packet.owner_fan_key:
        _refuse("own_packet")


def _check_at_once(campaign: Campaign, found: ClaimContext, request: ClaimRequest) -> None:
    """`_check`'s rules on what `claim_context` read."""
    packet = found.packet
    if campaign.status == "ended":
        _refuse("campaign_ended")
    if found.linked:
        _refuse("linked_identity")
    if request.phone_sha256 and request.phone_sha256 == packet.owner_phone_sha256:
        _refuse("same_phone")
    if request.device_sha256 and request.device_sha256 == packet.owner_device_sha256:
        _refuse("same_device")
    if found.ordered_before:
        _refuse("not_new_customer")


def new_take(
    campaign: Campaign, packet: Packet, request: ClaimRequest, *, now: datetime
) -> claims_repository.Take:
    """The claim and its coupon to write (share, amount and ids still to come)."""
    terms = terms_of(campaign)
    claim = Claim(
        campaign_id=campaign.id, packet_id=packet.id, fan_key=request.fan_key,
        phone_sha256=request.phone_sha256, device_sha256=request.device_sha256, claimed_at=now,
    )  # fmt: skip
    coupon = _new_coupon(campaign, terms, claim, now=now)
    day = claim_day(now, campaign.time_zone)
    return claims_repository.Take(
        claim, coupon, packet.owner_fan_key, day, campaign.daily_claim_cap
    )


def took(take: claims_repository.Take, taken: claims_repository.Taken) -> Claimed:
    """The claim `take_and_claim` wrote in full, its ids and amount filled in."""
    claim, coupon = take.claim, take.coupon
    seq, amount = taken.seq, taken.amount_cents
    claim_id, coupon_id = taken.claim_id, taken.coupon_id
    if seq is None or amount is None or claim_id is None or coupon_id is None:
        raise RuntimeError(f"the claim was not written in full: {taken}")
    claim.id, claim.seq, claim.amount_cents = claim_id, seq, amount
    coupon.id, coupon.claim_id, coupon.amount_cents = coupon_id, claim_id, amount
    return Claimed(claim, coupon, new=True)


def announcement(
    claimed: Claimed, take: claims_repository.Take, *, now: datetime
) -> CloudEvent[ShareClaimed]:
    return announcements.share_claimed(
        claimed.claim, claimed.coupon, referrer=take.referrer, now=now
    )


async def _claim_at_once(
    tx: Tx, take: claims_repository.Take, request: ClaimRequest, *, account: str,
    outbox: Outbox, now: datetime,
) -> Claimed:  # fmt: skip
    """The share, claim, count, coupon and referral in one statement; step by step when a
    claim in flight holds every free share or the fan's other claim raced this one."""
    packet_id = take.claim.packet_id
    [taken] = await claims_repository.take_and_claim(tx, [take])
    if taken.capped:
        _refuse("daily_cap_reached")
    if taken.seq is None:
        return await _claim_step_by_step(
            session_of(tx), request, account=account, outbox=outbox, now=now
        )
    if taken.claim_id is None:  # the fan's other claim of the packet committed meanwhile
        session = session_of(tx)
        await claims_repository.release_share(session, packet_id=packet_id, seq=taken.seq)
        return await _earlier(session, packet_id, request)
    if taken.over_cap:
        _refuse("daily_cap_reached")
    claimed = took(take, taken)
    await outbox.add(tx, announcement(claimed, take, now=now))
    _count(tx, "claimed")
    return claimed


async def _claim_step_by_step(
    session: AsyncSession, request: ClaimRequest, *, account: str, outbox: Outbox, now: datetime
) -> Claimed:
    """`claim_share` a statement a step, waiting for the claims in flight that hold the
    packet's free shares."""
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
        return await _earlier(session, packet.id, request)
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
        return await _earlier(session, packet.id, request)
    _refuse("packet_empty")


async def _earlier(session: AsyncSession, packet_id: uuid.UUID, request: ClaimRequest) -> Claimed:
    earlier = await claims_repository.claim_of(
        session, packet_id=packet_id, fan_key=request.fan_key
    )
    if earlier is None:
        raise RuntimeError("the fan's claim of the packet, known to be committed, is not found")
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


def _new_coupon(campaign: Campaign, terms: CampaignTerms, claim: Claim, *, now: datetime) -> Coupon:
    """The claim's coupon, its amount (the share's) and ids still to be filled in."""
    return Coupon(
        code=coupon_code(), claim_id=claim.id, campaign_id=campaign.id,
        holder_fan_key=claim.fan_key, amount_cents=claim.amount_cents,
        currency=campaign.currency, min_spend_cents=terms.coupon.min_spend_cents,
        accounts=list(terms.coupon.accounts) or [campaign.account], status="active",
        valid_from=now, expires_at=now + timedelta(seconds=terms.coupon.validity_seconds),
    )  # fmt: skip


async def _coupon(
    session: AsyncSession, campaign: Campaign, terms: CampaignTerms, claim: Claim, *,
    now: datetime,
) -> Coupon:  # fmt: skip
    coupon = _new_coupon(campaign, terms, claim, now=now)
    values = {column: getattr(coupon, column) for column in _COUPON_COLUMNS}
    return await claims_repository.insert_coupon(session, values)


_COUPON_COLUMNS = (
    "code", "claim_id", "campaign_id", "holder_fan_key", "amount_cents", "currency",
    "min_spend_cents", "accounts", "status", "valid_from", "expires_at",
)  # fmt: skip


async def _refer(session: AsyncSession, packet: Packet, claim: Claim) -> None:
    await claims_repository.refer(session, {
        "campaign_id": packet.campaign_id, "referred_fan_key": claim.fan_key,
        "referrer_fan_key": packet.owner_fan_key, "packet_id": packet.id,
        "claim_id": claim.id, "referred_at": claim.claimed_at,
    })  # fmt: skip


def refusal(code: ClaimRefusalCode) -> Refused:
    """The refusal, counted now: its transaction rolls back, so after_commit would never run."""
    metrics.CLAIMS.labels(code).inc()
    return Refused(code)


def _refuse(code: ClaimRefusalCode) -> NoReturn:
    raise refusal(code)


def _count(tx: Tx, outcome: str) -> None:
    after_commit(tx, metrics.CLAIMS.labels(outcome).inc)
