"""coupons' rules over a test's own database: campaigns, packets, claims and redemptions run
as the edges run them (one transaction each), and the money invariants checked after."""

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.coupons import campaigns, claims, expiry, handlers, invariants, redemptions, service
from services.coupons.campaigns import NewCampaign
from services.coupons.claims import Claimed, ClaimRequest
from services.coupons.config import CouponsSettings
from services.coupons.models import Campaign, Packet, infrastructure
from services.coupons.redemptions import Checkout, Redeemed
from services.coupons.refusals import Refused
from services.coupons.service import Issued, NotIssued, PacketRequest
from services.coupons.terms import CampaignTerms, FixedTotal
from shared.contracts import OrderPaid, OrderRefunded
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent
from shared.outbox import Outbox

T = TypeVar("T")
ACCOUNT = "shop-1"
ORDER_ACCOUNT = "oa-brand"  # the account of `fan(name)`'s orders: its campaigns reward them
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def fan(name: str) -> str:
    return f"wechat:oa-brand:{name}"


def terms(**changes: Any) -> CampaignTerms:
    values: dict[str, Any] = {"shares_per_packet": 20, "packet_rule": FixedTotal(total_cents=2_000)}
    return CampaignTerms(**{**values, **changes})


class CouponsHarness:
    def __init__(self, database_url: str, *, pool_size: int = 20) -> None:
        self.engine = create_engine(database_url, pool_size=pool_size)
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        settings = CouponsSettings(kafka_bootstrap_servers="unused:9092", database_url=database_url)
        self.outbox = Outbox(settings, infrastructure)
        self.rng = random.Random(20260601)

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with transaction(self.sessionmaker) as session:
            return await work(session)

    async def campaign(
        self, *, budget_cents: int = 1_000_000, slices: int = 16, account: str = ACCOUNT,
        **changes: Any,
    ) -> Campaign:  # fmt: skip
        new = NewCampaign(
            account=account, name="spring", currency="CNY", budget_cents=budget_cents,
            budget_slices=slices, time_zone="UTC", terms=terms(**changes),
        )  # fmt: skip
        return await self.run(lambda session: campaigns.create(session, new, now=NOW))

    async def issue(
        self, campaign: Campaign, *, owner: str = "owner", order_id: str | None = None,
        now: datetime = NOW, **request: Any,
    ) -> Issued | NotIssued:  # fmt: skip
        packet_request = PacketRequest(
            order_id=order_id or uuid.uuid4().hex, owner_fan_key=fan(owner), **request
        )

        async def issue(session: AsyncSession) -> Issued | NotIssued:
            found = await campaigns.get(session, campaign.id)
            return await service.issue_packet(
                session, found, packet_request, outbox=self.outbox, rng=self.rng, now=now
            )

        return await self.run(issue)

    async def packet(self, campaign: Campaign, **request: Any) -> Packet:
        issued = await self.issue(campaign, **request)
        assert isinstance(issued, Issued), issued
        return issued.packet

    async def claim(
        self, packet: Packet, claimer: str, *, now: datetime = NOW, **request: Any
    ) -> Claimed | Refused:
        claim_request = ClaimRequest(share_code=packet.share_code, fan_key=fan(claimer), **request)

        async def claim(session: AsyncSession) -> Claimed:
            return await claims.claim_share(
                session, claim_request, account=packet.account, outbox=self.outbox, now=now
            )

        try:
            return await self.run(claim)
        except Refused as refusal:
            return refusal

    async def redeem(
        self, code: str, holder: str, *, key: str, order_cents: int = 10_000,
        now: datetime = NOW, order_id: str = "o-checkout",
    ) -> Redeemed | Refused:  # fmt: skip
        checkout = Checkout(
            account=ACCOUNT, fan_key=fan(holder), order_id=order_id, order_cents=order_cents,
            currency="CNY",
        )  # fmt: skip

        async def redeem(session: AsyncSession) -> Redeemed:
            return await redemptions.redeem(
                session, code, checkout, idempotency_key=key, outbox=self.outbox, now=now
            )

        try:
            return await self.run(redeem)
        except Refused as refusal:
            return refusal

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessionmaker() as session:
            return await session.scalar(text(sql), params)

    async def execute(self, sql: str, **params: Any) -> None:
        """A statement of the test's own, committed."""
        async with transaction(self.sessionmaker) as session:
            await session.execute(text(sql), params)

    async def events(self, event_type: str) -> int:
        """Events of the type written to the outbox."""
        found = await self.scalar(
            "SELECT count(*) FROM coupons.outbox_messages WHERE headers @> "
            "jsonb_build_array(jsonb_build_array('ce_type', CAST(:type AS text)))",
            type=event_type,
        )
        return int(found)

    async def assert_conserved(self, campaign: Campaign) -> None:
        """The invariants: slices + packets' totals - returned = budget, never below zero;
        every packet's shares sum to its total; claims match claimed shares; one coupon each."""
        sql = {
            "slices": "SELECT coalesce(sum(remaining_cents), 0) FROM coupons.budget_slices "
                      "WHERE campaign_id = :c",
            "negative": "SELECT count(*) FROM coupons.budget_slices WHERE remaining_cents < 0",
            "packets": "SELECT coalesce(sum(total_cents - returned_cents), 0) FROM "
                       "coupons.packets WHERE campaign_id = :c",
            "rewards": "SELECT coalesce(sum(amount_cents), 0) FROM coupons.referral_rewards "
                       "WHERE campaign_id = :c AND revoked_at IS NULL",
            "budget": "SELECT budget_cents FROM coupons.campaigns WHERE id = :c",
            "bad_packets": "SELECT count(*) FROM coupons.packets p WHERE total_cents <> "
                           "returned_cents + (SELECT coalesce(sum(amount_cents), 0) FROM "
                           "coupons.packet_shares s WHERE s.packet_id = p.id)",
            "claims_unmatched": "SELECT count(*) FROM coupons.packet_shares s FULL JOIN "
                                "coupons.claims c USING (packet_id, seq) WHERE (s.claimed_by "
                                "IS NULL) <> (c.id IS NULL) OR s.claimed_by <> c.fan_key "
                                "OR s.amount_cents <> c.amount_cents",
            "claims_without_coupon": "SELECT count(*) FROM coupons.claims c LEFT JOIN "
                                     "coupons.coupons k ON k.claim_id = c.id WHERE k.id IS NULL",
        }  # fmt: skip
        found = {name: await self.scalar(query, c=campaign.id) for name, query in sql.items()}
        assert found["slices"] + found["packets"] + found["rewards"] == found["budget"], found
        assert found["negative"] == 0
        assert found["bad_packets"] == 0
        assert found["claims_unmatched"] == 0
        assert found["claims_without_coupon"] == 0

    async def assert_invariants_hold(self) -> None:
        """The operator's check of every invariant, over the whole database."""
        async with self.sessionmaker() as session:
            report = await invariants.check(session, now=NOW)
        broken = [finding for finding in report.findings if not finding.holds]
        assert not broken, broken

    async def order_paid(
        self, buyer: str, *, order_id: str, cents: int = 10_000, at: datetime = NOW,
        account: str = ORDER_ACCOUNT,
    ) -> None:  # fmt: skip
        """The events topic's paid order of `buyer` (`fan(buyer)` on `account`), handled."""
        data = OrderPaid(
            platform="wechat", account=account, user_id=buyer, occurred_at=at,
            order_id=order_id, amount_cents=cents, currency="CNY",
        )  # fmt: skip
        await self._handle(data, OrderPaid)

    async def order_refunded(
        self, buyer: str, *, order_id: str, cents: int = 10_000, at: datetime = NOW,
        account: str = ORDER_ACCOUNT,
    ) -> None:  # fmt: skip
        data = OrderRefunded(
            platform="wechat", account=account, user_id=buyer, occurred_at=at,
            order_id=order_id, amount_cents=cents, currency="CNY",
        )  # fmt: skip
        await self._handle(data, OrderRefunded)

    async def _handle(self, data: OrderPaid | OrderRefunded, kind: type[Any]) -> None:
        event = CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key,
                              time=data.occurred_at)  # fmt: skip
        handler = handlers.registry(self.outbox, self.rng)[kind]
        await self.run(lambda session: handler(session, event))

    async def sweep(self, *, now: datetime, limit: int = 100) -> int:
        return await self.run(lambda session: expiry.sweep(
            session, now=now, limit=limit, outbox=self.outbox, rng=self.rng
        ))  # fmt: skip
