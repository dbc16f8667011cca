"""What nobody claimed going back to the budget, and referral rewards with their claw-back,
against a real PostgreSQL: exactly once under concurrent sweepers, redeliveries and races,
with every money invariant holding after."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import text

from services.coupons.claims import Claimed
from services.coupons.claims_repository import packet_by_code
from services.coupons.models import Campaign
from services.coupons.refusals import Refused
from services.coupons.service import link_identity
from services.coupons.terms import ReferralTerms
from shared.contracts import ProfileUpdated
from tests.coupons_harness import NOW, ORDER_ACCOUNT, CouponsHarness, fan

pytestmark = pytest.mark.integration
LATER = NOW + timedelta(days=2)


@pytest.fixture
async def coupons(database_url: str) -> AsyncIterator[CouponsHarness]:
    harness = CouponsHarness(database_url)
    yield harness
    await harness.engine.dispose()


async def left(coupons: CouponsHarness, campaign_id: uuid.UUID) -> int:
    sql = "SELECT sum(remaining_cents) FROM coupons.budget_slices WHERE campaign_id = :c"
    return int(await coupons.scalar(sql, c=campaign_id))


class TestExpiry:
    async def test_what_nobody_claimed_returns_once_when_the_window_closes(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(budget_cents=100_000, shares_per_packet=4)
        packet = await coupons.packet(campaign)
        claimed = [await coupons.claim(packet, name) for name in ("ann", "bob")]
        cents = sum(c.claim.amount_cents for c in claimed if isinstance(c, Claimed))
        assert await coupons.sweep(now=NOW) == 0  # the window is still open
        assert await coupons.sweep(now=LATER) == 1
        assert await coupons.sweep(now=LATER) == 0
        returned = await coupons.scalar(
            "SELECT returned_cents FROM coupons.packets WHERE id = :p", p=packet.id
        )
        assert returned == packet.total_cents - cents
        assert await left(coupons, campaign.id) == 100_000 - cents
        assert await coupons.events("scrm.packet.expired.v1") == 1
        late = await coupons.claim(packet, "cy", now=LATER)
        assert isinstance(late, Refused)
        assert late.code == "window_closed"
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()

    async def test_concurrent_sweepers_return_each_packet_once(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(budget_cents=1_000_000, shares_per_packet=3)
        for _ in range(30):
            await coupons.packet(campaign)
        swept = await asyncio.gather(*(coupons.sweep(now=LATER, limit=7) for _ in range(6)))
        while await coupons.sweep(now=LATER, limit=7):
            pass
        assert sum(swept) <= 30
        assert await coupons.events("scrm.packet.expired.v1") == 30
        assert await left(coupons, campaign.id) == 1_000_000
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()

    async def test_claims_racing_the_sweep_either_land_or_find_the_packet_empty(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(budget_cents=100_000, shares_per_packet=5)
        packet = await coupons.packet(campaign)
        just_before = packet.claim_ends_at - timedelta(seconds=1)
        claims = [coupons.claim(packet, f"friend-{n}", now=just_before) for n in range(8)]
        results = await asyncio.gather(coupons.sweep(now=LATER), *claims)
        outcomes = [r.code if isinstance(r, Refused) else "claimed" for r in results[1:]]
        assert set(outcomes) <= {"claimed", "packet_empty"}
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()


class TestWithdrawalOnRefund:
    async def test_a_refund_returns_the_unclaimed_shares_and_keeps_the_claimed_coupons(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(account=ORDER_ACCOUNT, shares_per_packet=3)
        await coupons.order_paid("ann", order_id="o-1")
        code = await coupons.scalar("SELECT share_code FROM coupons.packets")
        issued = await coupons.run(lambda session: packet_by_code(session, code))
        assert issued is not None
        bob = await coupons.claim(issued, "bob")
        assert isinstance(bob, Claimed)
        await coupons.order_refunded("ann", order_id="o-1")
        await coupons.order_refunded("ann", order_id="o-1")  # redelivered
        late = await coupons.claim(issued, "cy")
        assert isinstance(late, Refused)
        assert late.code == "packet_empty"
        status = await coupons.scalar(
            "SELECT status FROM coupons.coupons WHERE code = :c", c=bob.coupon.code
        )
        assert status == "active"
        assert await coupons.events("scrm.packet.withdrawn.v1") == 1
        assert await coupons.sweep(now=LATER) == 0
        assert await left(coupons, campaign.id) == 1_000_000 - bob.claim.amount_cents
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()


class TestReferralRewards:
    async def _referred(self, coupons: CouponsHarness, **changes: Any) -> Campaign:
        """A campaign rewarding 500 cents, and bob referred to it by ann."""
        campaign = await coupons.campaign(
            account=ORDER_ACCOUNT, shares_per_packet=2, referral=ReferralTerms(reward_cents=500),
            **changes,
        )  # fmt: skip
        packet = await coupons.packet(campaign, owner="ann")
        assert isinstance(await coupons.claim(packet, "bob"), Claimed)
        return campaign

    async def rewards(self, coupons: CouponsHarness) -> list[tuple[str, int, bool]]:
        async with coupons.sessionmaker() as session:
            rows = await session.execute(text(
                "SELECT referrer_fan_key, amount_cents, revoked_at IS NOT NULL "
                "FROM coupons.referral_rewards ORDER BY rewarded_at"
            ))  # fmt: skip
            return [(row[0], int(row[1]), bool(row[2])) for row in rows]

    async def test_a_first_order_rewards_the_referrer_once_and_a_refund_claws_it_back_once(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await self._referred(coupons)
        before = await left(coupons, campaign.id)
        await coupons.order_paid("bob", order_id="o-1", at=NOW + timedelta(minutes=1))
        await coupons.order_paid("bob", order_id="o-1", at=NOW + timedelta(minutes=1))
        await coupons.order_paid("bob", order_id="o-2", at=NOW + timedelta(minutes=2))
        assert await self.rewards(coupons) == [(fan("ann"), 500, False)]
        bobs_packets = await coupons.scalar(  # bob's orders issued him packets too
            "SELECT sum(total_cents) FROM coupons.packets WHERE owner_fan_key = :f", f=fan("bob")
        )
        assert await left(coupons, campaign.id) == before - 500 - bobs_packets
        assert await coupons.events("scrm.referral.rewarded.v1") == 1
        await coupons.order_refunded("bob", order_id="o-2")  # not the rewarded order
        await coupons.order_refunded("bob", order_id="o-1")
        await coupons.order_refunded("bob", order_id="o-1")
        assert await self.rewards(coupons) == [(fan("ann"), 500, True)]
        assert await left(coupons, campaign.id) == before  # all withdrawn
        assert await coupons.events("scrm.referral.reward_revoked.v1") == 1
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()

    async def test_orders_racing_and_redelivered_earn_one_reward(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await self._referred(coupons)
        at = NOW + timedelta(minutes=1)
        orders = [coupons.order_paid("bob", order_id=f"o-{n % 3}", at=at) for n in range(9)]
        await asyncio.gather(*orders)
        assert await self.rewards(coupons) == [(fan("ann"), 500, False)]
        assert await coupons.events("scrm.referral.rewarded.v1") == 1
        await asyncio.gather(*(coupons.order_refunded("bob", order_id=f"o-{n}") for n in range(3)))
        assert await self.rewards(coupons) == [(fan("ann"), 500, True)]
        assert await coupons.events("scrm.referral.reward_revoked.v1") == 1
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()

    async def test_an_order_paid_before_the_referral_is_no_first_order(
        self, coupons: CouponsHarness
    ) -> None:
        await coupons.order_paid("bob", order_id="o-0", at=NOW - timedelta(days=1))
        await self._referred(coupons)
        await coupons.order_paid("bob", order_id="o-1", at=NOW + timedelta(minutes=1))
        assert await self.rewards(coupons) == []

    async def test_a_person_who_paid_under_another_identity_earns_nobody_a_reward(
        self, coupons: CouponsHarness
    ) -> None:
        for fan_key in (fan("bob"), fan("bob-alt")):  # one person to scoring
            profile = ProfileUpdated(
                fan_key=fan_key, interaction_count=1, first_seen_at=NOW, last_seen_at=NOW,
                person_key=fan("bob"),
            )  # fmt: skip
            await coupons.run(partial(link_identity, profile=profile, now=NOW))
        await coupons.order_paid("bob-alt", order_id="o-0", at=NOW - timedelta(days=1))
        await self._referred(coupons)
        await coupons.order_paid("bob", order_id="o-1", at=NOW + timedelta(minutes=1))
        assert await self.rewards(coupons) == []

    async def test_a_reward_the_budget_cannot_cover_is_refused_and_final(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await self._referred(coupons, budget_cents=2_000, slices=2)
        await coupons.order_paid("bob", order_id="o-1", at=NOW + timedelta(minutes=1))
        assert await self.rewards(coupons) == [(fan("ann"), 0, False)]
        refusal = await coupons.scalar("SELECT refusal FROM coupons.referral_rewards")
        assert refusal == "budget_exhausted"
        assert await coupons.events("scrm.referral.rewarded.v1") == 0
        await coupons.order_refunded("bob", order_id="o-1")
        assert await coupons.events("scrm.referral.reward_revoked.v1") == 0
        await coupons.assert_conserved(campaign)
        await coupons.assert_invariants_hold()
