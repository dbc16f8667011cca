"""Redemption rules: a coupon checked and used at checkout, and that use reversed when the
order is refunded. Takes the session first; flushes, never commits.

Every use and reversal of a coupon locks its row first, so they happen one at a time: of any
number of redemptions racing, the first finds the coupon active and uses it, the others find it
used. An idempotency key names one redemption: asked again, the same answer. A reversal happens
once: only the update that finds the redemption not yet reversed announces it."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import announcements, metrics, redemptions_repository, repository
from services.coupons.models import Coupon, Redemption, Reversal
from services.coupons.refusals import NotFound, RedeemRefusalCode, Refused
from shared.db import after_commit
from shared.outbox import Outbox


@dataclass(frozen=True)
class Checkout:
    """An order at a brand account's checkout, and the fan paying it."""

    account: str
    fan_key: str
    order_id: str
    order_cents: int
    currency: str


@dataclass(frozen=True)
class Redeemed:
    redemption: Redemption
    coupon: Coupon
    new: bool


async def validate(
    session: AsyncSession, code: str, checkout: Checkout, *, now: datetime
) -> tuple[Coupon, RedeemRefusalCode | None]:
    """The coupon and why it could not be used on the order (None: it could), changing nothing."""
    coupon = await redemptions_repository.get_coupon(session, code)
    if coupon is None or checkout.account not in coupon.accounts:
        raise NotFound("no such coupon")
    return coupon, await _refusal(session, coupon, checkout, now=now)


async def redeem(
    session: AsyncSession, code: str, checkout: Checkout, *, idempotency_key: str,
    outbox: Outbox, now: datetime,
) -> Redeemed:  # fmt: skip
    coupon = await redemptions_repository.lock_coupon(session, code=code)
    if coupon is None or checkout.account not in coupon.accounts:
        raise NotFound("no such coupon")
    earlier = await redemptions_repository.redemption_by_key(
        session, account=checkout.account, idempotency_key=idempotency_key
    )
    if earlier is not None:
        if earlier.coupon_id != coupon.id:
            _refuse("idempotency_key_reused")
        _count(session, "repeated")
        return Redeemed(earlier, coupon, new=False)
    refusal = await _refusal(session, coupon, checkout, now=now)
    if refusal is not None:
        _refuse(refusal)
    redemption = await _insert(session, coupon, checkout, idempotency_key, now=now)
    await redemptions_repository.set_coupon_status(session, coupon.id, "redeemed")
    coupon.status = "redeemed"
    await outbox.add(session, announcements.coupon_redeemed(redemption, coupon, now=now))
    _count(session, "redeemed")
    return Redeemed(redemption, coupon, new=True)


async def _refusal(
    session: AsyncSession, coupon: Coupon, checkout: Checkout, *, now: datetime
) -> RedeemRefusalCode | None:
    if coupon.status != "active":
        return "already_redeemed"
    if checkout.fan_key != coupon.holder_fan_key and await repository.person_of(
        session, checkout.fan_key
    ) != await repository.person_of(session, coupon.holder_fan_key):
        return "not_holder"
    if now < coupon.valid_from:
        return "not_yet_valid"
    if now >= coupon.expires_at:
        return "expired"
    if checkout.currency != coupon.currency:
        return "currency_mismatch"
    if checkout.order_cents < coupon.min_spend_cents:
        return "below_minimum_spend"
    return None


async def _insert(
    session: AsyncSession, coupon: Coupon, checkout: Checkout, idempotency_key: str, *,
    now: datetime,
) -> Redemption:  # fmt: skip
    redemption = await redemptions_repository.insert_redemption(session, {
        "id": uuid.uuid4(), "coupon_id": coupon.id, "account": checkout.account,
        "idempotency_key": idempotency_key, "order_id": checkout.order_id,
        "fan_key": checkout.fan_key, "order_cents": checkout.order_cents,
        "discount_cents": min(coupon.amount_cents, checkout.order_cents), "redeemed_at": now,
    })  # fmt: skip
    if redemption is None:  # the key, used meanwhile on another coupon
        _refuse("idempotency_key_reused")
    return redemption


async def reverse(
    session: AsyncSession, redemption_id: uuid.UUID, *, account: str, outbox: Outbox,
    now: datetime,
) -> Redeemed:  # fmt: skip
    """Reverse a redemption through the API; one reversed already is answered as it is."""
    found = await redemptions_repository.get_redemption(session, redemption_id)
    if found is None or found.account != account:
        raise NotFound("no such redemption")
    return await _reverse(session, found, reason="api", outbox=outbox, now=now)


async def reverse_order(
    session: AsyncSession, *, account: str, order_id: str, outbox: Outbox, now: datetime
) -> list[Redeemed]:
    """The order was refunded: every coupon used on it is given back."""
    used = await redemptions_repository.redemptions_of_order(
        session, account=account, order_id=order_id
    )
    return [
        await _reverse(session, redemption, reason="refund", outbox=outbox, now=now)
        for redemption in used
    ]


async def _reverse(
    session: AsyncSession, redemption: Redemption, *, reason: Reversal,
    outbox: Outbox, now: datetime,
) -> Redeemed:  # fmt: skip
    coupon = await redemptions_repository.lock_coupon(session, coupon_id=redemption.coupon_id)
    if coupon is None:
        raise RuntimeError("a redemption without its coupon")
    reversed_ = await redemptions_repository.mark_reversed(
        session, redemption.id, reason=reason, at=now
    )
    if reversed_ is None:  # reversed before, or by a transaction that committed meanwhile
        again = await redemptions_repository.get_redemption(session, redemption.id)
        return Redeemed(again or redemption, coupon, new=False)
    await redemptions_repository.set_coupon_status(session, coupon.id, "active")
    coupon.status = "active"
    await outbox.add(session, announcements.coupon_reversed(reversed_, coupon, now=now))
    after_commit(session, metrics.REVERSALS.labels(reason).inc)
    return Redeemed(reversed_, coupon, new=True)


def _refuse(code: RedeemRefusalCode) -> NoReturn:
    """Raise the refusal, counted now: its transaction rolls back, so after_commit never runs."""
    metrics.REDEMPTIONS.labels(code).inc()
    raise Refused(code)


def _count(session: AsyncSession, outcome: str) -> None:
    after_commit(session, metrics.REDEMPTIONS.labels(outcome).inc)
