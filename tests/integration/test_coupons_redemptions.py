"""Redemptions against a real PostgreSQL: a coupon used at most once however many requests
race, the same idempotency key answered the same, and a refund reversing a use exactly once."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import redemptions
from services.coupons.claims import Claimed
from services.coupons.redemptions import Redeemed
from services.coupons.refusals import Refused
from tests.coupons_harness import ACCOUNT, NOW, CouponsHarness

pytestmark = pytest.mark.integration


@pytest.fixture
async def coupons(database_url: str) -> AsyncIterator[CouponsHarness]:
    harness = CouponsHarness(database_url)
    yield harness
    await harness.engine.dispose()


async def coupon_of(coupons: CouponsHarness, holder: str = "ann", **terms: Any) -> Claimed:
    campaign = await coupons.campaign(**terms)
    claimed = await coupons.claim(await coupons.packet(campaign), holder)
    assert isinstance(claimed, Claimed)
    return claimed


def outcome(result: Redeemed | Refused) -> str:
    return result.code if isinstance(result, Refused) else "redeemed"


async def refund(coupons: CouponsHarness, order_id: str) -> list[Redeemed]:
    async def reverse(session: AsyncSession) -> list[Redeemed]:
        return await redemptions.reverse_order(
            session, account=ACCOUNT, order_id=order_id, outbox=coupons.outbox, now=NOW
        )

    return await coupons.run(reverse)


class TestConcurrentRedemptions:
    async def test_a_thousand_redemptions_of_one_code_one_succeeds(
        self, coupons: CouponsHarness
    ) -> None:
        code = (await coupon_of(coupons)).coupon.code
        results = await asyncio.gather(
            *(coupons.redeem(code, "ann", key=f"k-{n}", order_id=f"o-{n}") for n in range(1000))
        )
        assert Counter(map(outcome, results)) == {"redeemed": 1, "already_redeemed": 999}
        assert await coupons.scalar("SELECT count(*) FROM coupons.redemptions") == 1
        assert await coupons.events("scrm.coupon.redeemed.v1") == 1

    async def test_one_idempotency_key_racing_gets_one_redemption(
        self, coupons: CouponsHarness
    ) -> None:
        code = (await coupon_of(coupons)).coupon.code
        results = await asyncio.gather(*(coupons.redeem(code, "ann", key="k") for _ in range(50)))
        assert all(isinstance(result, Redeemed) for result in results)
        assert (
            len({result.redemption.id for result in results if isinstance(result, Redeemed)}) == 1
        )
        assert await coupons.events("scrm.coupon.redeemed.v1") == 1

    async def test_a_refund_racing_itself_and_the_api_reverses_once(
        self, coupons: CouponsHarness
    ) -> None:
        code = (await coupon_of(coupons)).coupon.code
        redeemed = await coupons.redeem(code, "ann", key="k", order_id="o-r")
        assert isinstance(redeemed, Redeemed)

        async def by_api(session: AsyncSession) -> Redeemed:
            return await redemptions.reverse(
                session, redeemed.redemption.id, account=ACCOUNT, outbox=coupons.outbox, now=NOW
            )

        await asyncio.gather(*(refund(coupons, "o-r") for _ in range(10)),
                             *(coupons.run(by_api) for _ in range(10)))  # fmt: skip
        assert await coupons.events("scrm.coupon.reversed.v1") == 1
        status = await coupons.scalar("SELECT status FROM coupons.coupons WHERE code = :c", c=code)
        assert status == "active"


class TestRedeem:
    async def test_the_same_key_again_gets_the_same_redemption(
        self, coupons: CouponsHarness
    ) -> None:
        code = (await coupon_of(coupons)).coupon.code
        first = await coupons.redeem(code, "ann", key="k-1")
        again = await coupons.redeem(code, "ann", key="k-1")
        assert isinstance(first, Redeemed)
        assert isinstance(again, Redeemed)
        assert (again.redemption.id, again.new) == (first.redemption.id, False)

    async def test_a_key_used_on_another_coupon_is_refused(self, coupons: CouponsHarness) -> None:
        first = (await coupon_of(coupons, "ann")).coupon.code
        second = (await coupon_of(coupons, "ann")).coupon.code
        await coupons.redeem(first, "ann", key="k-shared")
        assert outcome(await coupons.redeem(second, "ann", key="k-shared")) == (
            "idempotency_key_reused"
        )

    async def test_the_discount_is_the_coupon_at_most_the_order(
        self, coupons: CouponsHarness
    ) -> None:
        claimed = await coupon_of(coupons, shares_per_packet=1)
        redeemed = await coupons.redeem(claimed.coupon.code, "ann", key="k", order_cents=1_500)
        assert isinstance(redeemed, Redeemed)
        assert redeemed.redemption.discount_cents == 1_500

    async def test_a_reversed_coupon_can_be_used_again(self, coupons: CouponsHarness) -> None:
        code = (await coupon_of(coupons)).coupon.code
        await coupons.redeem(code, "ann", key="k-1", order_id="o-1")
        assert len(await refund(coupons, "o-1")) == 1
        assert outcome(await coupons.redeem(code, "ann", key="k-2", order_id="o-2")) == "redeemed"
        assert await refund(coupons, "o-1") == []


class TestRedeemRefusals:
    async def test_another_fan_cannot_use_the_coupon(self, coupons: CouponsHarness) -> None:
        code = (await coupon_of(coupons, "ann")).coupon.code
        assert outcome(await coupons.redeem(code, "bob", key="k")) == "not_holder"

    async def test_an_expired_coupon_is_refused(self, coupons: CouponsHarness) -> None:
        claimed = await coupon_of(coupons, coupon={"validity_seconds": 3_600})
        later = NOW + timedelta(hours=1)
        assert outcome(await coupons.redeem(claimed.coupon.code, "ann", key="k", now=later)) == (
            "expired"
        )

    async def test_an_order_below_the_minimum_spend_is_refused(
        self, coupons: CouponsHarness
    ) -> None:
        claimed = await coupon_of(coupons, coupon={"min_spend_cents": 5_000})
        code = claimed.coupon.code
        assert outcome(await coupons.redeem(code, "ann", key="k", order_cents=4_999)) == (
            "below_minimum_spend"
        )
        assert outcome(await coupons.redeem(code, "ann", key="k", order_cents=5_000)) == (
            "redeemed"
        )
