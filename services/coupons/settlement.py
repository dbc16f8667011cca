"""What an order's payment and refund settle besides packets and redemptions: the referral
reward of a first order and its claw-back, and the packets of a refunded order withdrawn.
Takes the session first; flushes, never commits."""

import random
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import expiry, rewards
from services.coupons.models import Order
from shared.outbox import Outbox


async def settle_payment(
    session: AsyncSession, order: Order, *, outbox: Outbox, rng: random.Random, now: datetime
) -> None:
    """Reward the referrers of a first order. An order refunded before its payment arrived
    earns nothing, and the packets it was just issued are withdrawn at once."""
    if order.status == "refunded":
        await expiry.withdraw_order_packets(
            session, account=order.account, order_id=order.order_id, outbox=outbox, rng=rng,
            now=now,
        )  # fmt: skip
        return
    await rewards.reward_first_order(session, order, outbox=outbox, rng=rng, now=now)


async def settle_refund(
    session: AsyncSession, *, account: str, order_id: str, outbox: Outbox, rng: random.Random,
    now: datetime,
) -> None:  # fmt: skip
    """Claw back the order's referral rewards and withdraw its packets: what nobody claimed
    goes back to the budget; the coupons claimed stay valid."""
    await rewards.revoke_for_order(
        session, account=account, order_id=order_id, outbox=outbox, rng=rng, now=now
    )
    await expiry.withdraw_order_packets(
        session, account=account, order_id=order_id, outbox=outbox, rng=rng, now=now
    )
