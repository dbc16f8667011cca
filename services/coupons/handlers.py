"""coupons' Kafka subscribers, in one visible registry per topic: orders from the events topic
(a paid order issues packets and rewards a referrer for a first order; a refund gives back the
coupons used on it, withdraws its packets and revokes what it rewarded), and the identities
scoring linked, from the profiles topic (for the self-referral checks)."""

import random
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import redemptions, service
from services.coupons.config import CouponsSettings
from services.coupons.settlement import settle_payment, settle_refund
from shared import topics
from shared.consumer import HandlerRegistry
from shared.consumer_batch import BatchRegistry
from shared.contracts import OrderPaid, OrderRefunded, ProfileUpdated
from shared.events import CloudEvent
from shared.outbox import Outbox
from shared.service import Subscription


def registry(outbox: Outbox, rng: random.Random) -> HandlerRegistry:
    async def issue_packets_on_payment(session: AsyncSession, event: CloudEvent[OrderPaid]) -> None:
        order = await service.record_order(session, event.data)
        now = datetime.now(UTC)
        await service.issue_for_order(session, event.data, outbox=outbox, rng=rng, now=now)
        await settle_payment(session, order, outbox=outbox, rng=rng, now=now)

    async def reverse_redemptions_on_refund(
        session: AsyncSession, event: CloudEvent[OrderRefunded]
    ) -> None:
        await service.record_order(session, event.data)
        await redemptions.reverse_order(
            session, account=event.data.account, order_id=event.data.order_id, outbox=outbox,
            now=datetime.now(UTC),
        )  # fmt: skip
        await settle_refund(
            session, account=event.data.account, order_id=event.data.order_id, outbox=outbox,
            rng=rng, now=datetime.now(UTC),
        )  # fmt: skip

    return {OrderPaid: issue_packets_on_payment, OrderRefunded: reverse_redemptions_on_refund}


def identities_registry() -> BatchRegistry:
    """Each fan's person as scoring announces it, the later snapshot of a fan winning."""

    async def link_identities(
        session: AsyncSession, events: Sequence[CloudEvent[ProfileUpdated]]
    ) -> None:
        now = datetime.now(UTC)
        for event in events:
            await service.link_identity(session, event.data, now=now)

    return BatchRegistry(link_identities, frozenset({ProfileUpdated}))


def subscriptions(
    settings: CouponsSettings, outbox: Outbox, rng: random.Random
) -> list[Subscription]:
    return [
        Subscription([settings.topic(topics.EVENTS)], registry(outbox, rng)),
        Subscription([settings.topic(topics.PROFILES)], identities_registry(), group="profiles"),
    ]
