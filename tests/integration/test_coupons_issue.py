"""Issuing packets against a real PostgreSQL: once per campaign and order however often it is
asked, never beyond the budget however many issue at once, and nothing issued (with the reason
kept) when the budget cannot cover a packet."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import campaigns, service
from services.coupons.campaigns import BudgetTooLow, CampaignChange
from services.coupons.handlers import registry
from services.coupons.models import infrastructure
from services.coupons.service import Issued, NotIssued
from shared.contracts import OrderPaid
from shared.db import claim_event
from shared.events import CloudEvent
from tests.coupons_harness import NOW, CouponsHarness

pytestmark = pytest.mark.integration


@pytest.fixture
async def coupons(database_url: str) -> AsyncIterator[CouponsHarness]:
    harness = CouponsHarness(database_url, pool_size=10)
    yield harness
    await harness.engine.dispose()


def paid(order_id: str, *, cents: int = 25_900, currency: str = "CNY") -> CloudEvent[OrderPaid]:
    data = OrderPaid(
        platform="standard", account="shop-1", user_id="buyer", occurred_at=NOW,
        order_id=order_id, amount_cents=cents, currency=currency,
    )  # fmt: skip
    return CloudEvent.of(data, id=f"paid-{order_id}", source="test", subject=data.fan_key)


def outcome(result: Issued | NotIssued) -> str:
    return result.code if isinstance(result, NotIssued) else "issued"


async def deliver(coupons: CouponsHarness, event: CloudEvent[OrderPaid]) -> None:
    """As the consumer runner applies a record: the event id claimed, then the handler."""
    handler = registry(coupons.outbox, coupons.rng)[OrderPaid]

    async def apply(session: AsyncSession) -> None:
        if await claim_event(
            session, infrastructure.processed_events, consumer="test", event_id=event.id
        ):
            await handler(session, event)

    await coupons.run(apply)


class TestIssueOnPayment:
    async def test_a_paid_order_issues_one_packet_however_often_it_is_delivered(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign()
        event = paid("o-1")
        for _ in range(3):
            await deliver(coupons, event)
        # an event id of its own (a replay by another path) changes nothing either
        await deliver(coupons, event.model_copy(update={"id": "paid-o-1-again"}))
        assert await coupons.scalar("SELECT count(*) FROM coupons.packets") == 1
        assert await coupons.events("scrm.packet.issued.v1") == 1
        await coupons.assert_conserved(campaign)

    async def test_the_packet_total_follows_the_order(self, coupons: CouponsHarness) -> None:
        rule = {"kind": "order_share", "basis_points": 1_000, "max_cents": 5_000}
        campaign = await coupons.campaign(packet_rule=rule, shares_per_packet=4)
        await deliver(coupons, paid("o-2", cents=12_345))
        total = await coupons.scalar("SELECT total_cents FROM coupons.packets")
        assert total == 1_234
        await coupons.assert_conserved(campaign)

    async def test_campaigns_of_other_currencies_and_paused_ones_issue_nothing(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign()
        change = CampaignChange(status="paused")
        await coupons.run(lambda session: campaigns.change(session, campaign.id, change, now=NOW))
        await deliver(coupons, paid("o-3"))
        await deliver(coupons, paid("o-4", currency="USD"))
        assert await coupons.scalar("SELECT count(*) FROM coupons.packets") == 0


class TestBudget:
    async def test_concurrent_issues_never_overspend_the_budget(
        self, coupons: CouponsHarness
    ) -> None:
        # 150 packets of 2,000 cents fit the budget, spread over 8 slices
        campaign = await coupons.campaign(budget_cents=300_000, slices=8)
        results = await asyncio.gather(*(coupons.issue(campaign) for _ in range(200)))
        assert Counter(map(outcome, results)) == {"issued": 150, "budget_exhausted": 50}
        assert await coupons.scalar("SELECT sum(remaining_cents) FROM coupons.budget_slices") == 0
        refusals = await coupons.scalar(
            "SELECT count(*) FROM coupons.issue_refusals WHERE reason = 'budget_exhausted'"
        )
        assert refusals == 50
        await coupons.assert_conserved(campaign)

    async def test_an_order_issued_concurrently_from_two_sides_gets_one_packet(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign()
        results = await asyncio.gather(
            *(coupons.issue(campaign, order_id="o-9") for _ in range(20))
        )
        issued = [result for result in results if isinstance(result, Issued)]
        assert len(issued) == 20
        assert len({result.packet.id for result in issued}) == 1
        assert sum(result.new for result in issued) == 1
        await coupons.assert_conserved(campaign)

    async def test_a_budget_short_of_a_packet_issues_nothing_and_keeps_why(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(budget_cents=3_000, slices=4)
        assert outcome(await coupons.issue(campaign, order_id="o-a")) == "issued"
        assert outcome(await coupons.issue(campaign, order_id="o-b")) == "budget_exhausted"
        reason = await coupons.scalar(
            "SELECT reason FROM coupons.issue_refusals WHERE order_id = 'o-b'"
        )
        assert reason == "budget_exhausted"
        assert await coupons.scalar("SELECT count(*) FROM coupons.packets") == 1
        await coupons.assert_conserved(campaign)

    async def test_a_packet_draws_across_slices_when_none_holds_enough(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(budget_cents=2_000, slices=16)
        assert outcome(await coupons.issue(campaign)) == "issued"
        assert await coupons.scalar("SELECT sum(remaining_cents) FROM coupons.budget_slices") == 0
        await coupons.assert_conserved(campaign)

    async def test_the_budget_is_raised_and_lowered_within_what_is_not_issued(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(budget_cents=10_000, slices=4)
        await coupons.issue(campaign)

        async def rebudget(session: AsyncSession, cents: int) -> None:
            change = CampaignChange(budget_cents=cents)
            await campaigns.change(session, campaign.id, change, now=NOW)

        await coupons.run(lambda session: rebudget(session, 50_000))
        await coupons.assert_conserved(campaign)
        await coupons.run(lambda session: rebudget(session, 2_000))
        await coupons.assert_conserved(campaign)
        with pytest.raises(BudgetTooLow):
            await coupons.run(lambda session: rebudget(session, 1_999))

    async def test_a_rule_needing_the_order_amount_refuses_without_it(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(packet_rule={"kind": "order_share", "basis_points": 10})
        assert outcome(await coupons.issue(campaign)) == "order_amount_unknown"
        assert outcome(await coupons.issue(campaign, order_cents=100)) == "below_minimum_total"


async def test_an_issue_keeps_the_owner_and_the_window(coupons: CouponsHarness) -> None:
    campaign = await coupons.campaign(claim_window_seconds=7_200)
    issued = await coupons.issue(campaign, owner="host", order_id=f"o-{uuid.uuid4().hex}")
    assert isinstance(issued, Issued)
    packet = issued.packet
    assert packet.claim_ends_at == datetime(2026, 6, 1, 14, tzinfo=UTC)
    assert len(packet.share_code) >= 22
    page = await coupons.run(lambda session: service.packet_page(session, packet))
    assert page.claims == []
    assert page.best_luck_claim_id is None
