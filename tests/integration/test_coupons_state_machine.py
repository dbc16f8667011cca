"""A hypothesis state machine over coupons' rules on a real PostgreSQL: campaigns issue
packets, fans claim (one at a time and in bursts), coupons are redeemed under reused keys and
reversed, packets expire (one, or the sweep of all), fans' orders are paid (issuing packets and
rewarding referrers of a first order) and refunded (withdrawing packets, clawing rewards back),
and after every step the money is conserved, the operator's invariant check finds nothing
broken, and every answer is the one a simple model of the rules expects."""

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from services.coupons import expiry, redemptions
from services.coupons.claims import Claimed
from services.coupons.models import Campaign, Packet
from services.coupons.redemptions import Redeemed
from services.coupons.refusals import Refused
from services.coupons.service import Issued
from services.coupons.terms import CouponTerms, ReferralTerms
from tests.coupons_harness import ACCOUNT, NOW, ORDER_ACCOUNT, CouponsHarness

pytestmark = pytest.mark.integration
T = TypeVar("T")
FANS = ("ann", "bob", "cy", "dee", "eve")
KEYS = ("k1", "k2", "k3")


@dataclass
class PacketModel:
    packet: Packet
    owner: str
    claims: dict[str, int] = field(default_factory=dict)  # fan -> claim id
    closed: bool = False  # its unclaimed money went back: no share left to claim


@dataclass
class CouponModel:
    code: str
    holder: str
    active_redemption: uuid.UUID | None = None


class CouponsMachine(RuleBasedStateMachine):
    database_url = ""

    packets = Bundle("packets")
    coupons = Bundle("coupons")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.harness = CouponsHarness(self.database_url, pool_size=5)
        self.campaigns: list[Campaign] = []
        self.keys: dict[str, tuple[str, uuid.UUID]] = {}  # idempotency key -> coupon, use
        self.redemptions: dict[uuid.UUID, CouponModel] = {}
        self.run_id = uuid.uuid4().hex
        self.closable: list[PacketModel] = []

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.harness.engine.dispose())
        self.loop.close()

    @rule(budget=st.integers(0, 20_000), shares=st.integers(1, 4), equal=st.booleans(),
          rewarding=st.booleans())  # fmt: skip
    def create_campaign(self, budget: int, shares: int, equal: bool, rewarding: bool) -> None:
        split = "equal" if equal else "lucky"
        rule_ = {"kind": "fixed", "total_cents": 1_000 * shares}
        # a rewarding campaign is of the orders' account, its coupons good at the checkout's
        extra: dict[str, Any] = {
            "account": ORDER_ACCOUNT, "referral": ReferralTerms(reward_cents=700),
            "coupon": CouponTerms(accounts=(ACCOUNT,)),
        } if rewarding else {}  # fmt: skip
        campaign = self.run(self.harness.campaign(
            budget_cents=budget, slices=3, shares_per_packet=shares, packet_rule=rule_,
            split=split, **extra,
        ))  # fmt: skip
        self.campaigns.append(campaign)

    @rule(target=packets, which=st.integers(0, 10**6), owner=st.sampled_from(FANS))
    def issue(self, which: int, owner: str) -> Any:
        if not self.campaigns:
            return multiple()
        campaign = self.campaigns[which % len(self.campaigns)]
        issued = self.run(self.harness.issue(campaign, owner=owner))
        if not isinstance(issued, Issued):
            assert issued.code == "budget_exhausted"
            return multiple()
        model = PacketModel(issued.packet, owner)
        self.closable.append(model)
        return model

    def _expect_claim(self, model: PacketModel, claimer: str, result: Claimed | Refused) -> None:
        if claimer == model.owner:
            assert isinstance(result, Refused)
            assert result.code == "own_packet"
        elif claimer in model.claims:
            assert isinstance(result, Claimed)
            assert result.claim.id == model.claims[claimer]
        elif isinstance(result, Refused):
            assert result.code == "packet_empty"
            assert model.closed or len(model.claims) == model.packet.shares
        else:
            model.claims[claimer] = result.claim.id

    @rule(target=coupons, model=packets, claimer=st.sampled_from(FANS))
    def claim(self, model: PacketModel, claimer: str) -> Any:
        result = self.run(self.harness.claim(model.packet, claimer))
        new = claimer not in model.claims
        self._expect_claim(model, claimer, result)
        if isinstance(result, Claimed) and new:
            return CouponModel(result.coupon.code, claimer)
        return multiple()

    @rule(model=packets, claimers=st.lists(st.sampled_from(FANS), min_size=2, max_size=8))
    def claim_in_a_burst(self, model: PacketModel, claimers: list[str]) -> None:
        async def burst() -> list[Claimed | Refused]:
            return await asyncio.gather(*(self.harness.claim(model.packet, f) for f in claimers))

        results = self.run(burst())
        # the winners first: a refusal in the burst may be due to a claim later in the list
        ordered = sorted(zip(claimers, results, strict=True),
                         key=lambda pair: isinstance(pair[1], Refused))  # fmt: skip
        for claimer, result in ordered:
            self._expect_claim(model, claimer, result)

    @rule(coupon=coupons, key=st.sampled_from(KEYS))
    def redeem(self, coupon: CouponModel, key: str) -> None:
        # a run of its own keys: the database is shared by the runs of the machine
        key = f"{self.run_id}-{key}"
        result = self.run(self.harness.redeem(coupon.code, coupon.holder, key=key))
        earlier = self.keys.get(key)
        if earlier is not None:
            if earlier[0] == coupon.code:
                assert isinstance(result, Redeemed)
                assert result.redemption.id == earlier[1]
            else:
                assert isinstance(result, Refused)
                assert result.code == "idempotency_key_reused"
        elif coupon.active_redemption is not None:
            assert isinstance(result, Refused)
            assert result.code == "already_redeemed"
        else:
            assert isinstance(result, Redeemed)
            coupon.active_redemption = result.redemption.id
            self.keys[key] = (coupon.code, result.redemption.id)
            self.redemptions[result.redemption.id] = coupon

    @rule(coupon=coupons)
    def reverse(self, coupon: CouponModel) -> None:
        used = coupon.active_redemption
        if used is None:
            return
        reversed_ = self.run(self.harness.run(lambda session: redemptions.reverse(
            session, used, account=ACCOUNT, outbox=self.harness.outbox, now=NOW
        )))  # fmt: skip
        assert reversed_.new
        coupon.active_redemption = None

    @rule(model=packets)
    def expire(self, model: PacketModel) -> None:
        returned = self.run(self.harness.run(lambda session: expiry.return_unclaimed(
            session, model.packet.id, reason="expired", outbox=self.harness.outbox,
            rng=self.harness.rng, now=NOW,
        )))  # fmt: skip
        assert (returned is None) == model.closed
        model.closed = True

    @rule()
    def sweep(self) -> None:
        """Every packet's window closed: the sweep returns them all (other runs' too)."""
        later = NOW + timedelta(days=40)
        while self.run(self.harness.sweep(now=later, limit=50)):
            pass
        for model in self.closable:
            model.closed = True

    @rule(buyer=st.sampled_from(FANS), order=st.integers(0, 3), minute=st.integers(1, 30))
    def pay(self, buyer: str, order: int, minute: int) -> None:
        at = NOW + timedelta(minutes=minute)
        self.run(self.harness.order_paid(buyer, order_id=f"{self.run_id}-{order}", at=at))

    @rule(buyer=st.sampled_from(FANS), order=st.integers(0, 3))
    def refund(self, buyer: str, order: int) -> None:
        self.run(self.harness.order_refunded(buyer, order_id=f"{self.run_id}-{order}"))

    @invariant()
    def every_invariant_holds(self) -> None:
        self.run(self.harness.assert_invariants_hold())

    @invariant()
    def money_is_conserved(self) -> None:
        for campaign in self.campaigns:
            self.run(self.harness.assert_conserved(campaign))

    @invariant()
    def every_change_has_its_event(self) -> None:
        counts = self.run(self._counts())
        assert counts["claims"] == counts["scrm.share.claimed.v1"]
        assert counts["packets"] == counts["scrm.packet.issued.v1"]
        assert counts["redemptions"] == counts["scrm.coupon.redeemed.v1"]
        assert counts["reversed"] == counts["scrm.coupon.reversed.v1"]
        assert counts["double_used"] == 0
        assert counts["expired"] == counts["scrm.packet.expired.v1"]
        assert counts["withdrawn"] == counts["scrm.packet.withdrawn.v1"]
        assert counts["rewarded"] == counts["scrm.referral.rewarded.v1"]
        assert counts["revoked"] == counts["scrm.referral.reward_revoked.v1"]

    async def _counts(self) -> dict[str, int]:
        sql = {
            "claims": "SELECT count(*) FROM coupons.claims",
            "packets": "SELECT count(*) FROM coupons.packets",
            "redemptions": "SELECT count(*) FROM coupons.redemptions",
            "reversed": "SELECT count(*) FROM coupons.redemptions WHERE reversed_at IS NOT NULL",
            "double_used": "SELECT count(*) FROM (SELECT coupon_id FROM coupons.redemptions "
                           "WHERE reversed_at IS NULL GROUP BY coupon_id HAVING count(*) > 1) d",
            "expired": "SELECT count(*) FROM coupons.packets WHERE return_reason = 'expired'",
            "withdrawn": "SELECT count(*) FROM coupons.packets "
                         "WHERE return_reason = 'withdrawn'",
            "rewarded": "SELECT count(*) FROM coupons.referral_rewards WHERE refusal IS NULL",
            "revoked": "SELECT count(*) FROM coupons.referral_rewards "
                       "WHERE revoked_at IS NOT NULL",
        }  # fmt: skip
        counts = {name: int(await self.harness.scalar(query)) for name, query in sql.items()}
        for event_type in ("scrm.share.claimed.v1", "scrm.packet.issued.v1",
                           "scrm.coupon.redeemed.v1", "scrm.coupon.reversed.v1",
                           "scrm.packet.expired.v1", "scrm.packet.withdrawn.v1",
                           "scrm.referral.rewarded.v1",
                           "scrm.referral.reward_revoked.v1"):  # fmt: skip
            counts[event_type] = await self.harness.events(event_type)
        return counts


def test_the_rules_keep_their_invariants(database_url: str) -> None:
    CouponsMachine.database_url = database_url
    run_state_machine_as_test(
        CouponsMachine,
        settings=settings(max_examples=15, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture]),
    )  # fmt: skip
