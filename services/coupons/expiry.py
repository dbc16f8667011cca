"""What nobody claimed goes back to the campaign's budget, once: when a packet's claim window
closes (the sweep, run by every replica side by side), or when the order it was issued for is
refunded first (the packet is withdrawn; its claimed shares' coupons stay valid). Takes the
session first; flushes, never commits.

Exactly once, whoever races (sweepers of several replicas, a refund): the packet is marked with
an update conditional on `returned_at IS NULL`, and only the transaction whose update found it
unmarked moves the unclaimed shares out, gives their cents back and announces it. The sweep
skips packets another sweeper holds (SKIP LOCKED). After it, for every packet: claimed +
unclaimed + returned = total, and the budget's slices + packets' totals - returned = budget."""

import random
import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import announcements, budget, expiry_repository, metrics
from services.coupons.models import Packet
from shared.db import after_commit
from shared.outbox import Outbox

ReturnReason = Literal["expired", "withdrawn"]


async def sweep(
    session: AsyncSession, *, now: datetime, limit: int, outbox: Outbox, rng: random.Random
) -> int:
    """Return the money of up to `limit` packets whose window closed; how many were due."""
    due = await expiry_repository.due_packets(session, now=now, limit=limit)
    for packet_id in due:
        await return_unclaimed(
            session, packet_id, reason="expired", outbox=outbox, rng=rng, now=now
        )
    return len(due)


async def withdraw_order_packets(
    session: AsyncSession, *, account: str, order_id: str, outbox: Outbox, rng: random.Random,
    now: datetime,
) -> list[Packet]:  # fmt: skip
    """The refunded order's packets give back what nobody claimed; no share can be claimed
    after (a claim is then refused `packet_empty`). Coupons already claimed stay valid."""
    withdrawn = []
    for packet_id in await expiry_repository.packets_of_order(
        session, account=account, order_id=order_id
    ):
        packet = await return_unclaimed(
            session, packet_id, reason="withdrawn", outbox=outbox, rng=rng, now=now
        )
        if packet is not None:
            withdrawn.append(packet)
    return withdrawn


async def return_unclaimed(
    session: AsyncSession, packet_id: uuid.UUID, *, reason: ReturnReason, outbox: Outbox,
    rng: random.Random, now: datetime,
) -> Packet | None:  # fmt: skip
    """Give the packet's unclaimed cents back to its campaign's budget: the packet, or None
    when its money went back before."""
    packet = await expiry_repository.mark_returned(session, packet_id, reason=reason, now=now)
    if packet is None:
        return None
    returned = await expiry_repository.move_unclaimed(session, packet.id, now=now)
    await expiry_repository.set_returned_cents(session, packet, returned)
    await budget.give_back(session, packet.campaign_id, returned, rng=rng)
    await outbox.add(session, announcements.packet_returned(packet, now=now))
    after_commit(session, metrics.PACKETS_RETURNED.labels(reason).inc)
    return packet
