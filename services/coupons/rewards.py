"""Referral rewards: when a fan referred to a campaign (the owner of the first packet they
claimed in it is their referrer, `referrals`) pays their first order on the campaign's
account (the first of their person, under any of the identities scoring links to it: a
customer referred under a new identity is no new customer), the referrer earns the campaign's
`referral.reward_cents`, at most once per referred fan and campaign. A refund of that order
revokes it, once. Takes the session first; flushes, never commits.

A reward is money: it is drawn from the campaign's budget like a packet (the reward row goes in
first under the unique (campaign, referred fan), and only then is the budget drawn, so a
redelivered order or two orders racing never pay twice), and a revoked reward's cents go back
to the budget. So the budget invariant reads: slices + packets' totals - returned + rewards
not revoked = budget. A reward the budget cannot cover, or refused by the terms, is kept with
its reason, holds no money and is final (a later order is no first order)."""

import random
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import announcements, budget, metrics, repository, rewards_repository
from services.coupons.campaigns import terms_of
from services.coupons.models import Campaign, Order, Referral, ReferralReward
from services.coupons.refusals import RewardRefusalCode
from services.coupons.terms import ReferralTerms
from shared.db import after_commit
from shared.outbox import Outbox


async def reward_first_order(
    session: AsyncSession, order: Order, *, outbox: Outbox, rng: random.Random, now: datetime
) -> list[ReferralReward]:
    """The rewards the order earns its buyer's referrers (none when it is not their first
    paid order on the account, or was refunded already)."""
    if order.status != "paid" or order.paid_at is None:
        return []
    identities = await repository.identities_of(
        session, await repository.person_of(session, order.fan_key)
    )
    if await rewards_repository.paid_before(session, order, identities=identities):
        return []
    referrals = await rewards_repository.referrals_of(
        session, fan_key=order.fan_key, account=order.account, paid_at=order.paid_at
    )
    rewarded = []
    for referral, campaign in referrals:
        reward = await _reward(session, order, referral, campaign, outbox=outbox, rng=rng, now=now)
        if reward is not None:
            rewarded.append(reward)
    return rewarded


async def _reward(
    session: AsyncSession, order: Order, referral: Referral, campaign: Campaign, *,
    outbox: Outbox, rng: random.Random, now: datetime,
) -> ReferralReward | None:  # fmt: skip
    terms = terms_of(campaign).referral
    if terms is None or terms.reward_cents == 0:
        return None
    refusal = _refusal(order, campaign, terms)
    reward = await rewards_repository.insert_reward(session, {
        "id": uuid.uuid4(), "campaign_id": campaign.id, "referred_fan_key": order.fan_key,
        "referrer_fan_key": referral.referrer_fan_key, "account": order.account,
        "order_id": order.order_id, "order_cents": order.amount_cents,
        "currency": campaign.currency, "amount_cents": 0 if refusal else terms.reward_cents,
        "refusal": refusal, "rewarded_at": now,
    })  # fmt: skip
    if reward is None:  # rewarded before: a redelivery, or another first order that won
        return None
    if refusal is None and not await budget.draw(session, campaign, reward.amount_cents, rng=rng):
        refusal = "budget_exhausted"
        await rewards_repository.refuse_reward(session, reward, refusal)
    if refusal is not None:
        after_commit(session, metrics.REWARDS.labels(refusal).inc)
        return reward
    await outbox.add(session, announcements.referral_rewarded(reward, now=now))
    after_commit(session, metrics.REWARDS.labels("rewarded").inc)
    return reward


def _refusal(order: Order, campaign: Campaign, terms: ReferralTerms) -> RewardRefusalCode | None:
    if order.currency != campaign.currency:
        return "currency_mismatch"
    if order.amount_cents < terms.min_order_cents:
        return "below_minimum_order"
    return None


async def revoke_for_order(
    session: AsyncSession, *, account: str, order_id: str, outbox: Outbox, rng: random.Random,
    now: datetime,
) -> list[ReferralReward]:  # fmt: skip
    """Claw back what the refunded order earned: each reward once, its cents back in the
    budget."""
    revoked = await rewards_repository.revoke_for_order(
        session, account=account, order_id=order_id, now=now
    )
    for reward in revoked:
        await budget.give_back(session, reward.campaign_id, reward.amount_cents, rng=rng)
        await outbox.add(session, announcements.reward_revoked(reward, now=now))
        after_commit(session, metrics.REWARDS.labels("revoked").inc)
    return list(revoked)
