"""A hypothesis state machine over coupons' rules on a real PostgreSQL: campaigns issue
packets, fans claim (one at a time and in bursts), coupons are redeemed under reused keys and
reversed, and after every step the money is conserved and every answer is the one a simple
model of the rules expects."""

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
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

from services.coupons import redemptions
from services.coupons.claims import Claimed
from services.coupons.models import Campaign, Packet
from services.coupons.redemptions import Redeemed
from services.coupons.refusals import Refused
from services.coupons.service import Issued
from tests.coupons_harness import ACCOUNT, NOW, CouponsHarness

pytestmark = pytest.mark.integration
T = TypeVar("T")
FANS = ("ann", "bob", "cy", "dee", "eve")
KEYS = ("k1", "k2", "k3")


@dataclass
class PacketModel:
    packet: Packet
    owner: str
    claims: dict[str, int] = field(default_factory=dict)  # fan -> claim id


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

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.harness.engine.dispose())
        self.loop.close()

    @rule(budget=st.integers(0, 20_000), shares=st.integers(1, 4), equal=st.booleans())
    def create_campaign(self, budget: int, shares: int, equal: bool) -> None:
        split = "equal" if equal else "lucky"
        rule_ = {"kind": "fixed", "total_cents": 1_000 * shares}
        campaign = self.run(self.harness.campaign(
            budget_cents=budget, slices=3, shares_per_packet=shares, packet_rule=rule_,
            split=split,
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
        return PacketModel(issued.packet, owner)

    def _expect_claim(self, model: PacketModel, claimer: str, result: Claimed | Refused) -> None:
        if claimer == model.owner:
            assert isinstance(result, Refused)
            assert result.code == "own_packet"
        elif claimer in model.claims:
            assert isinstance(result, Claimed)
            assert result.claim.id == model.claims[claimer]
        elif isinstance(result, Refused):
            assert result.code == "packet_empty"
            assert len(model.claims) == model.packet.shares
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

    async def _counts(self) -> dict[str, int]:
        sql = {
            "claims": "SELECT count(*) FROM coupons.claims",
            "packets": "SELECT count(*) FROM coupons.packets",
            "redemptions": "SELECT count(*) FROM coupons.redemptions",
            "reversed": "SELECT count(*) FROM coupons.redemptions WHERE reversed_at IS NOT NULL",
            "double_used": "SELECT count(*) FROM (SELECT coupon_id FROM coupons.redemptions "
                           "WHERE reversed_at IS NULL GROUP BY coupon_id HAVING count(*) > 1) d",
        }  # fmt: skip
        counts = {name: int(await self.harness.scalar(query)) for name, query in sql.items()}
        for event_type in ("scrm.share.claimed.v1", "scrm.packet.issued.v1",
                           "scrm.coupon.redeemed.v1", "scrm.coupon.reversed.v1"):  # fmt: skip
            counts[event_type] = await self.harness.events(event_type)
        return counts


def test_the_rules_keep_their_invariants(database_url: str) -> None:
    CouponsMachine.database_url = database_url
    run_state_machine_as_test(
        CouponsMachine,
        settings=settings(max_examples=15, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture]),
    )  # fmt: skip
