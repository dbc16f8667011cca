"""SQL of referral rewards: the referrals a paid order may reward, whether it is the fan's
first, the rewards (one per referred fan and campaign), and their revocation."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons.models import Campaign, Order, Referral, ReferralReward


async def referrals_of(
    session: AsyncSession, *, fan_key: str, account: str, paid_at: datetime
) -> Sequence[tuple[Referral, Campaign]]:
    """The fan's referrals to the account's campaigns that have referral terms, made before
    the order was paid."""
    query = (
        select(Referral, Campaign)
        .join(Campaign, Campaign.id == Referral.campaign_id)
        .where(Referral.referred_fan_key == fan_key, Referral.referred_at <= paid_at)
        .where(Campaign.account == account, Campaign.referral_terms.is_not(None))
        .order_by(Referral.campaign_id)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def paid_before(session: AsyncSession, order: Order, *, identities: Sequence[str]) -> bool:
    """Whether the order's buyer, under any of the identities of their person, paid another
    order on the account before this one (by the time paid, ties broken by order id): then
    this is not their first."""
    assert order.paid_at is not None  # noqa: S101 (a paid order's)
    query = select(
        exists().where(
            Order.account == order.account, Order.fan_key.in_(identities),
            Order.paid_at.is_not(None),
            tuple_(Order.paid_at, Order.order_id) < tuple_(order.paid_at, order.order_id),
        )
    )  # fmt: skip
    return bool(await session.scalar(query))


async def insert_reward(session: AsyncSession, values: dict[str, Any]) -> ReferralReward | None:
    """The reward, or None when the referred fan earned their referrer one in the campaign
    already (this waits for a transaction inserting one to end)."""
    statement = (
        insert(ReferralReward)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["campaign_id", "referred_fan_key"])
        .returning(ReferralReward)
    )
    return (await session.scalars(statement)).one_or_none()


async def refuse_reward(session: AsyncSession, reward: ReferralReward, refusal: str) -> None:
    await session.execute(
        update(ReferralReward)
        .where(ReferralReward.id == reward.id)
        .values(refusal=refusal, amount_cents=0)
    )
    reward.refusal, reward.amount_cents = refusal, 0


async def revoke_for_order(
    session: AsyncSession, *, account: str, order_id: str, now: datetime
) -> Sequence[ReferralReward]:
    """Revoke the paid rewards the order earned, each once: only the update that finds one not
    revoked yet returns it."""
    statement = (
        update(ReferralReward)
        .where(ReferralReward.account == account, ReferralReward.order_id == order_id)
        .where(ReferralReward.revoked_at.is_(None), ReferralReward.refusal.is_(None))
        .values(revoked_at=now)
        .returning(ReferralReward)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).all()


async def rewards_of_referrer(
    session: AsyncSession, referrer_fan_key: str
) -> Sequence[ReferralReward]:
    query = select(ReferralReward).where(ReferralReward.referrer_fan_key == referrer_fan_key)
    return (await session.scalars(query.order_by(ReferralReward.rewarded_at))).all()


async def reward_by_id(session: AsyncSession, reward_id: uuid.UUID) -> ReferralReward | None:
    return await session.get(ReferralReward, reward_id)
