"""SQL of claims: the shares a claim takes, the claims, their coupons, daily counters,
referrals, and what a packet's page shows.

A claim takes one unclaimed share of its packet with `FOR UPDATE SKIP LOCKED`, so concurrent
claims of one packet each take a different share and none waits on the packet's row.

The claim's own path is two statements: one reads all a claim checks (`claim_context`), one
takes the share and writes the claim, the daily count, the coupon and the referral
(`take_and_claim`, on the session's asyncpg connection: SQLAlchemy's cost per statement was
most of a claim's). The statements one at a time below are for what that path leaves aside: a
packet whose free shares are all held by claims in flight, a fan's racing claims."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import (
    Campaign,
    Claim,
    ClaimCounter,
    Coupon,
    Order,
    Packet,
    PacketShare,
    Referral,
)
from shared.db import Tx, connection_of


async def packet_by_code(session: AsyncSession, share_code: str) -> Packet | None:
    return await session.scalar(select(Packet).where(Packet.share_code == share_code))


async def packet_with_claim(
    session: AsyncSession, *, share_code: str, fan_key: str
) -> tuple[Packet, tuple[Claim, Coupon] | None] | None:
    """The packet of the code, with the fan's claim of it and its coupon if they claimed."""
    query = (
        select(Packet, Claim, Coupon)
        .outerjoin(Claim, and_(Claim.packet_id == Packet.id, Claim.fan_key == fan_key))
        .outerjoin(Coupon, Coupon.claim_id == Claim.id)
        .where(Packet.share_code == share_code)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    packet, claim, coupon = row
    return packet, (claim, coupon) if claim is not None else None


@dataclass(frozen=True)
class ClaimContext:
    """What a claim checks, read in one statement (so at one instant)."""

    packet: Packet
    campaign: Campaign | None
    earlier: tuple[Claim, Coupon] | None  # the fan's claim of the packet, and its coupon
    unclaimed: bool  # a share is unclaimed as far as committed claims go
    linked: bool  # the claimer and the owner are one person to scoring
    ordered_before: bool  # only for a campaign for new customers: the claimer paid an order


_ENTITIES = ((Packet, "p"), (Campaign, "cm"), (Claim, "c"), (Coupon, "x"))
_NAMES = [[column.key for column in entity.__table__.columns] for entity, _ in _ENTITIES]
_SELECTED = ", ".join(
    f"{alias}.{name}" for (_, alias), names in zip(_ENTITIES, _NAMES, strict=True) for name in names
)
_CONTEXTS = f"""
SELECT {_SELECTED},
    -- each a scalar subquery with LIMIT 1, which reads the index for each claim: as EXISTS,
    -- PostgreSQL hashed every unclaimed share of every packet once a statement
    (SELECT true FROM coupons.packet_shares s
     WHERE s.packet_id = p.id AND s.claimed_by IS NULL LIMIT 1) IS NOT NULL,
    claimer.person = coalesce(
        (SELECT person_key FROM coupons.fan_identities WHERE fan_key = p.owner_fan_key),
        p.owner_fan_key),
    cm.audience = 'new_customers' AND (
        SELECT true FROM coupons.orders o
        WHERE o.fan_key = ANY (array_prepend(claimer.person, ARRAY(
                  SELECT fan_key FROM coupons.fan_identities WHERE person_key = claimer.person)))
          AND o.account = ANY (array_append(
              ARRAY(SELECT jsonb_array_elements_text(cm.coupon_terms -> 'accounts')), cm.account))
          AND o.paid_at IS NOT NULL
        LIMIT 1) IS NOT NULL
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r(share_code, fan_key, n)
CROSS JOIN LATERAL (
    SELECT coalesce((SELECT person_key FROM coupons.fan_identities WHERE fan_key = r.fan_key),
                    r.fan_key) AS person
) claimer
LEFT JOIN coupons.packets p ON p.share_code = r.share_code
LEFT JOIN coupons.campaigns cm ON cm.id = p.campaign_id
LEFT JOIN coupons.claims c ON c.packet_id = p.id AND c.fan_key = r.fan_key
LEFT JOIN coupons.coupons x ON x.claim_id = c.id
ORDER BY r.n
"""  # noqa: S608 (the models' column names)


async def claim_context(tx: Tx, *, share_code: str, fan_key: str) -> ClaimContext | None:
    """The packet of the code and what a claim of it by `fan_key` checks; None without one."""
    return (await claim_contexts(tx, [(share_code, fan_key)]))[0]


async def claim_contexts(tx: Tx, claims: Sequence[tuple[str, str]]) -> list[ClaimContext | None]:
    """`claim_context` of each (share code, fan key), in one statement on asyncpg (each
    column one array parameter); the rows come back as objects of the models that no session
    holds (read, never written through)."""
    connection = await connection_of(tx)
    codes, fans = [code for code, _ in claims], [fan for _, fan in claims]
    return [_context(list(row.values())) for row in await connection.fetch(_CONTEXTS, codes, fans)]


def _context(values: list[Any]) -> ClaimContext | None:
    at = 0
    objects: list[Any] = []
    for (entity, _), names in zip(_ENTITIES, _NAMES, strict=True):
        row = dict(zip(names, values[at : at + len(names)], strict=True))
        objects.append(None if row["id"] is None else entity(**row))
        at += len(names)
    packet, campaign, claim, coupon = objects
    if packet is None:
        return None
    unclaimed, linked, ordered = values[at:]
    earlier = (claim, coupon) if claim is not None else None
    return ClaimContext(packet, campaign, earlier, bool(unclaimed), bool(linked), bool(ordered))


@dataclass(frozen=True)
class Take:
    """A claim for `take_and_claim` to write: the claim and its coupon as built (seq, amount
    and ids still to come), who referred the fan, the fan's day and the campaign's daily cap."""

    claim: Claim
    coupon: Coupon
    referrer: str
    day: date
    cap: int | None


@dataclass(frozen=True)
class Taken:
    """What `take_and_claim` did for one claim: each None where it stopped."""

    capped: bool  # the fan's day was at the cap when the statement began: nothing was written
    seq: int | None  # the share taken; None: no share free of other claims
    amount_cents: int | None
    claim_id: int | None  # None: the fan has a claim of the packet already
    coupon_id: int | None
    over_cap: bool  # counted past the cap: a claim of the fan's committed since it began


_TAKE_AND_CLAIM = """
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::text[],
                         $6::text[], $7::date[], $8::int[], $9::text[], $10::text[],
                         $11::bigint[], $12::jsonb[], $13::timestamptz[], $14::text[])
        WITH ORDINALITY AS r(packet_id, fan_key, claimed_at, campaign_id, phone_sha256,
                             device_sha256, day, cap, code, currency, min_spend_cents,
                             accounts, expires_at, referrer, n)
), allowed AS (  -- a fan at the cap of the day takes nothing
    SELECT r.* FROM req r
    WHERE r.cap IS NULL OR r.cap > coalesce((
        SELECT k.claims FROM coupons.claim_counters k
        WHERE k.campaign_id = r.campaign_id AND k.fan_key = r.fan_key AND k.day = r.day), 0)
), chosen AS (  -- the shares free of other claims, as many as the packet's claims here want
    SELECT f.packet_id, f.seq, row_number() OVER (PARTITION BY f.packet_id ORDER BY f.seq) AS k
    FROM (SELECT packet_id, count(*) AS wanted FROM allowed GROUP BY packet_id) w,
    LATERAL (SELECT s.packet_id, s.seq FROM coupons.packet_shares s
             WHERE s.packet_id = w.packet_id AND s.claimed_by IS NULL
             ORDER BY s.seq LIMIT w.wanted FOR UPDATE SKIP LOCKED) f
), share AS (  -- to the packet's claims in their order: first come, first served
    UPDATE coupons.packet_shares AS s SET claimed_by = a.fan_key, claimed_at = a.claimed_at
    FROM chosen JOIN (
        SELECT *, row_number() OVER (PARTITION BY packet_id ORDER BY n) AS k FROM allowed
    ) a USING (packet_id, k)
    WHERE s.packet_id = chosen.packet_id AND s.seq = chosen.seq
    RETURNING a.n, s.seq, s.amount_cents
), claim AS (
    INSERT INTO coupons.claims AS c (campaign_id, packet_id, seq, fan_key, amount_cents,
                                     phone_sha256, device_sha256, claimed_at)
    SELECT r.campaign_id, r.packet_id, share.seq, r.fan_key, share.amount_cents,
           r.phone_sha256, r.device_sha256, r.claimed_at
    FROM share JOIN req r USING (n) ORDER BY r.n
    ON CONFLICT (packet_id, fan_key) DO NOTHING
    RETURNING c.id, c.packet_id, c.fan_key
), claimed AS (  -- a fan claims a packet once among the claims
    SELECT r.n, claim.id FROM claim JOIN req r USING (packet_id, fan_key)
), counted AS (  -- in one order of the rows: two statements never wait for each other here
    INSERT INTO coupons.claim_counters AS k (campaign_id, fan_key, day, claims)
    SELECT r.campaign_id, r.fan_key, r.day, 1 FROM claimed JOIN req r USING (n)
    WHERE r.cap IS NOT NULL ORDER BY r.campaign_id, r.fan_key
    ON CONFLICT (campaign_id, fan_key, day) DO UPDATE SET claims = k.claims + 1
    RETURNING k.campaign_id, k.fan_key, k.claims
), coupon AS (
    INSERT INTO coupons.coupons AS x (code, claim_id, campaign_id, holder_fan_key, amount_cents,
                                      currency, min_spend_cents, accounts, status, valid_from,
                                      expires_at)
    SELECT r.code, claimed.id, r.campaign_id, r.fan_key, share.amount_cents, r.currency,
           r.min_spend_cents, ARRAY(SELECT jsonb_array_elements_text(r.accounts)), 'active',
           r.claimed_at, r.expires_at
    FROM claimed JOIN req r USING (n) JOIN share USING (n)
    RETURNING x.id, x.claim_id
), referral AS (
    INSERT INTO coupons.referrals (campaign_id, referred_fan_key, referrer_fan_key, packet_id,
                                   claim_id, referred_at)
    SELECT r.campaign_id, r.fan_key, r.referrer, r.packet_id, claimed.id, r.claimed_at
    FROM claimed JOIN req r USING (n)
    ON CONFLICT DO NOTHING
)
SELECT r.n NOT IN (SELECT n FROM allowed), share.seq, share.amount_cents, claimed.id,
       coupon.id, coalesce(counted.claims > r.cap, false)
FROM req r
LEFT JOIN share USING (n)
LEFT JOIN claimed USING (n)
LEFT JOIN coupon ON coupon.claim_id = claimed.id
LEFT JOIN counted ON counted.campaign_id = r.campaign_id AND counted.fan_key = r.fan_key
                 AND claimed.id IS NOT NULL
ORDER BY r.n
"""


async def take_and_claim(tx: Tx, takes: Sequence[Take]) -> list[Taken]:
    """In one statement, for each claim (at most one a fan and packet, and one a fan and
    campaign under a cap): unless the fan's day is at the cap, take a share free of other
    claims, insert the claim unless the fan has one of the packet, count it towards the fan's
    day, insert its coupon and the referral. Each step happens only when the one before did,
    so what stopped a claim is told by the first None; a claim counted past the cap (another
    of the fan's committed meanwhile) is to be rolled back with the transaction."""
    columns: list[list[Any]] = [[] for _ in range(14)]
    for take in takes:
        claim, coupon = take.claim, take.coupon
        row = (
            claim.packet_id, claim.fan_key, claim.claimed_at, claim.campaign_id,
            claim.phone_sha256, claim.device_sha256, take.day, take.cap, coupon.code,
            coupon.currency, coupon.min_spend_cents, to_json(coupon.accounts).decode(),
            coupon.expires_at, take.referrer,
        )  # fmt: skip
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    connection = await connection_of(tx)
    return [Taken(*row) for row in await connection.fetch(_TAKE_AND_CLAIM, *columns)]


async def has_unclaimed(session: AsyncSession, packet_id: uuid.UUID) -> bool:
    """Whether a share is unclaimed as far as committed claims go (those in flight count as
    not claimed yet: they may roll back)."""
    query = select(
        exists().where(PacketShare.packet_id == packet_id, PacketShare.claimed_by.is_(None))
    )
    return bool(await session.scalar(query))


async def claimers_of(tx: Tx, packet_id: uuid.UUID) -> frozenset[str]:
    """The fans holding a claim of the packet, as far as committed claims go."""
    connection = await connection_of(tx)
    rows = await connection.fetch(
        "SELECT fan_key FROM coupons.claims WHERE packet_id = $1", packet_id
    )
    return frozenset(row[0] for row in rows)


async def packets_of_order(
    session: AsyncSession, *, account: str, order_id: str
) -> Sequence[Packet]:
    query = select(Packet).where(Packet.account == account, Packet.order_id == order_id)
    return (await session.scalars(query.order_by(Packet.issued_at, Packet.id))).all()


async def claim_of(
    session: AsyncSession, *, packet_id: uuid.UUID, fan_key: str
) -> tuple[Claim, Coupon] | None:
    row = (
        await session.execute(
            select(Claim, Coupon)
            .join(Coupon, Coupon.claim_id == Claim.id)
            .where(Claim.packet_id == packet_id, Claim.fan_key == fan_key)
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _take(*, wait: bool) -> Any:
    skip = "" if wait else " SKIP LOCKED"
    return text(f"""
        WITH chosen AS (
            SELECT seq FROM coupons.packet_shares
            WHERE packet_id = :packet_id AND claimed_by IS NULL
            ORDER BY seq LIMIT 1 FOR UPDATE{skip}
        )
        UPDATE coupons.packet_shares AS s SET claimed_by = :fan_key, claimed_at = :now
        FROM chosen WHERE s.packet_id = :packet_id AND s.seq = chosen.seq
        RETURNING s.seq, s.amount_cents
    """)  # noqa: S608 (two constant texts)


_TAKE_FREE, _TAKE_WAITING = _take(wait=False), _take(wait=True)


async def take_share(
    session: AsyncSession, *, packet_id: uuid.UUID, fan_key: str, now: datetime
) -> tuple[int, int] | None:
    """(seq, amount) of the share taken for `fan_key`; None when every share is claimed.

    First a share no other claim holds. When every unclaimed share is held by claims still in
    flight, which may yet roll back, the packet is not empty: wait for them, in share order,
    and take the first one they leave unclaimed; only when none is left is the answer None."""
    values = {"packet_id": packet_id, "fan_key": fan_key, "now": now}
    for statement in (_TAKE_FREE, _TAKE_WAITING):
        taken = (await session.execute(statement, values)).first()
        if taken is not None:
            return int(taken.seq), int(taken.amount_cents)
    return None


async def release_share(session: AsyncSession, *, packet_id: uuid.UUID, seq: int) -> None:
    """Give back a share this transaction took (its claim lost to the fan's other claim)."""
    await session.execute(
        update(PacketShare)
        .where(PacketShare.packet_id == packet_id, PacketShare.seq == seq)
        .values(claimed_by=None, claimed_at=None)
    )


async def insert_claim(session: AsyncSession, values: dict[str, Any]) -> Claim | None:
    """The claim, or None when the fan has one of the packet already (this waits for a
    transaction inserting one to end)."""
    statement = (
        insert(Claim)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["packet_id", "fan_key"])
        .returning(Claim)
    )
    return (await session.scalars(statement)).one_or_none()


async def count_claim(
    session: AsyncSession, *, campaign_id: uuid.UUID, fan_key: str, day: date, cap: int
) -> bool:
    """Count one more claim of the fan's day; False (nothing counted) at the cap."""
    new = insert(ClaimCounter).values(campaign_id=campaign_id, fan_key=fan_key, day=day, claims=1)
    counted = await session.execute(
        new.on_conflict_do_update(
            index_elements=["campaign_id", "fan_key", "day"],
            set_={"claims": ClaimCounter.claims + 1},
            where=ClaimCounter.claims < cap,
        ).returning(ClaimCounter.claims)
    )
    return counted.first() is not None


async def insert_coupon(session: AsyncSession, values: dict[str, Any]) -> Coupon:
    return (await session.scalars(insert(Coupon).values(**values).returning(Coupon))).one()


async def refer(session: AsyncSession, values: dict[str, Any]) -> None:
    """Record who referred the fan to the campaign, unless someone did first."""
    await session.execute(insert(Referral).values(**values).on_conflict_do_nothing())


async def ordered_before(
    session: AsyncSession, *, fan_keys: list[str], accounts: list[str]
) -> bool:
    """Whether any of the identities paid an order on any of the accounts."""
    query = select(
        exists().where(
            Order.fan_key.in_(fan_keys), Order.account.in_(accounts), Order.paid_at.is_not(None)
        )
    )
    return bool(await session.scalar(query))


async def claims_of_packet(session: AsyncSession, packet_id: uuid.UUID) -> Sequence[Claim]:
    query = select(Claim).where(Claim.packet_id == packet_id).order_by(Claim.id)
    return (await session.scalars(query)).all()


async def shares_of_packet(session: AsyncSession, packet_id: uuid.UUID) -> Sequence[PacketShare]:
    query = select(PacketShare).where(PacketShare.packet_id == packet_id)
    return (await session.scalars(query.order_by(PacketShare.seq))).all()
