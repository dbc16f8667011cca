"""Claims against a real PostgreSQL: first come first served under any concurrency, one claim
per fan and packet, every refusal with its reason, and the money conserved throughout."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import pytest

from services.coupons import claims
from services.coupons.caches import EmptyPackets
from services.coupons.claims import Claimed, ClaimRequest
from services.coupons.models import Packet
from services.coupons.refusals import NotFound, Refused
from services.coupons.service import link_identity
from services.coupons.terms import FixedTotal
from shared.contracts import ProfileUpdated
from tests.coupons_harness import NOW, CouponsHarness, fan

pytestmark = pytest.mark.integration


@pytest.fixture
async def coupons(database_url: str) -> AsyncIterator[CouponsHarness]:
    harness = CouponsHarness(database_url)
    yield harness
    await harness.engine.dispose()


def outcome(result: Claimed | Refused) -> str:
    return result.code if isinstance(result, Refused) else "claimed"


class TestConcurrentClaims:
    async def test_a_thousand_claimers_of_twenty_shares_twenty_win(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign()
        packet = await coupons.packet(campaign)
        results = await asyncio.gather(*(coupons.claim(packet, f"friend-{n}") for n in range(1000)))
        assert Counter(map(outcome, results)) == {"claimed": 20, "packet_empty": 980}
        winners = [result for result in results if isinstance(result, Claimed)]
        assert sum(won.claim.amount_cents for won in winners) == packet.total_cents
        assert len({won.coupon.code for won in winners}) == 20
        assert await coupons.events("scrm.share.claimed.v1") == 20
        await coupons.assert_conserved(campaign)

    async def test_one_fan_claiming_many_times_at_once_holds_one_claim(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign()
        packet = await coupons.packet(campaign)
        results = await asyncio.gather(*(coupons.claim(packet, "eager") for _ in range(50)))
        claimed = [result for result in results if isinstance(result, Claimed)]
        assert len(claimed) == 50
        assert len({result.claim.id for result in claimed}) == 1
        assert sum(result.new for result in claimed) == 1
        claims = await coupons.scalar("SELECT count(*) FROM coupons.claims")
        assert claims == 1
        assert await coupons.events("scrm.share.claimed.v1") == 1
        await coupons.assert_conserved(campaign)

    async def test_claims_racing_on_many_packets_conserve_every_cent(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(split="lucky", shares_per_packet=5)
        packets = [await coupons.packet(campaign, owner=f"owner-{n}") for n in range(10)]
        results = await asyncio.gather(
            *(coupons.claim(packet, f"f-{n}") for packet in packets for n in range(8))
        )
        assert Counter(map(outcome, results)) == {"claimed": 50, "packet_empty": 30}
        await coupons.assert_conserved(campaign)


class TestClaimShare:
    async def test_a_claim_asked_again_gets_the_same_claim_and_coupon(
        self, coupons: CouponsHarness
    ) -> None:
        packet = await coupons.packet(await coupons.campaign())
        first = await coupons.claim(packet, "ann")
        again = await coupons.claim(packet, "ann", now=NOW + timedelta(days=3))
        assert isinstance(first, Claimed)
        assert isinstance(again, Claimed)
        assert (again.claim.id, again.coupon.code, again.new) == (
            first.claim.id, first.coupon.code, False,
        )  # fmt: skip

    async def test_the_claimer_is_referred_by_the_packet_owner(
        self, coupons: CouponsHarness
    ) -> None:
        packet = await coupons.packet(await coupons.campaign(), owner="host")
        await coupons.claim(packet, "ann")
        referrer = await coupons.scalar(
            "SELECT referrer_fan_key FROM coupons.referrals WHERE referred_fan_key = :f",
            f=fan("ann"),
        )
        assert referrer == fan("host")

    async def test_the_coupon_carries_the_campaign_terms(self, coupons: CouponsHarness) -> None:
        campaign = await coupons.campaign(
            coupon={"min_spend_cents": 5_000, "validity_seconds": 3600}
        )
        claimed = await coupons.claim(await coupons.packet(campaign), "ann")
        assert isinstance(claimed, Claimed)
        coupon = claimed.coupon
        assert (coupon.min_spend_cents, coupon.accounts) == (5_000, ["shop-1"])
        assert coupon.expires_at == NOW + timedelta(hours=1)
        assert len(coupon.code) == 16
        assert coupon.amount_cents == claimed.claim.amount_cents


class TestClaimRefusals:
    async def test_the_owner_cannot_claim_their_own_packet(self, coupons: CouponsHarness) -> None:
        packet = await coupons.packet(await coupons.campaign(), owner="host")
        assert outcome(await coupons.claim(packet, "host")) == "own_packet"

    async def test_an_identity_linked_to_the_owner_cannot_claim(
        self, coupons: CouponsHarness
    ) -> None:
        packet = await coupons.packet(await coupons.campaign(), owner="host")
        for fan_key in (fan("host"), fan("host-alt")):
            profile = ProfileUpdated(
                fan_key=fan_key, interaction_count=1, first_seen_at=NOW, last_seen_at=NOW,
                person_key=fan("host"),
            )  # fmt: skip
            await coupons.run(partial(link_identity, profile=profile, now=NOW))
        assert outcome(await coupons.claim(packet, "host-alt")) == "linked_identity"

    async def test_the_owners_phone_or_device_cannot_claim(self, coupons: CouponsHarness) -> None:
        phone, device = "a" * 64, "b" * 64
        packet = await coupons.packet(
            await coupons.campaign(), owner_phone_sha256=phone, owner_device_sha256=device
        )
        assert outcome(await coupons.claim(packet, "x", phone_sha256=phone)) == "same_phone"
        assert outcome(await coupons.claim(packet, "y", device_sha256=device)) == "same_device"
        assert outcome(await coupons.claim(packet, "z", phone_sha256="c" * 64)) == "claimed"

    async def test_a_claim_in_an_ended_campaign_is_refused(self, coupons: CouponsHarness) -> None:
        campaign = await coupons.campaign()
        packet = await coupons.packet(campaign)
        await coupons.execute("UPDATE coupons.campaigns SET status = 'ended'")
        assert outcome(await coupons.claim(packet, "ann")) == "campaign_ended"

    async def test_a_claim_after_the_window_is_refused(self, coupons: CouponsHarness) -> None:
        packet = await coupons.packet(await coupons.campaign(claim_window_seconds=3600))
        late = NOW + timedelta(hours=1)
        assert outcome(await coupons.claim(packet, "ann", now=late)) == "window_closed"

    async def test_claims_past_the_daily_cap_are_refused_until_the_next_day(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(daily_claim_cap=2, claim_window_seconds=3 * 86_400)
        packets = [await coupons.packet(campaign, owner=f"o{n}") for n in range(4)]
        outcomes = [outcome(await coupons.claim(packet, "ann")) for packet in packets[:3]]
        assert outcomes == ["claimed", "claimed", "daily_cap_reached"]
        tomorrow = NOW + timedelta(days=1)
        assert outcome(await coupons.claim(packets[3], "ann", now=tomorrow)) == "claimed"
        await coupons.assert_conserved(campaign)

    async def test_an_existing_customer_cannot_claim_for_new_customers(
        self, coupons: CouponsHarness
    ) -> None:
        packet = await coupons.packet(await coupons.campaign(audience="new_customers"))
        await coupons.execute(
            "INSERT INTO coupons.orders VALUES ('shop-1', 'o-old', :f, 100, 'CNY', 'paid', :t)",
            f=fan("regular"), t=NOW,
        )  # fmt: skip
        assert outcome(await coupons.claim(packet, "regular")) == "not_new_customer"
        assert outcome(await coupons.claim(packet, "newcomer")) == "claimed"

    async def test_a_customer_of_another_campaigns_accounts_is_new_to_this_one(
        self, coupons: CouponsHarness
    ) -> None:
        """Only the claimed campaign's accounts (its own and its coupons') tell who is a
        customer already, not those another campaign lists."""
        await coupons.campaign(coupon={"accounts": ["shop-2"]})
        packet = await coupons.packet(await coupons.campaign(audience="new_customers"))
        await coupons.execute(
            "INSERT INTO coupons.orders VALUES ('shop-2', 'o-there', :f, 100, 'CNY', 'paid', :t)",
            f=fan("elsewhere"), t=NOW,
        )  # fmt: skip
        assert outcome(await coupons.claim(packet, "elsewhere")) == "claimed"

    async def test_a_refused_claim_writes_nothing(self, coupons: CouponsHarness) -> None:
        campaign = await coupons.campaign(
            shares_per_packet=1, packet_rule={"kind": "fixed", "total_cents": 10}
        )
        packet = await coupons.packet(campaign)
        await coupons.claim(packet, "first")
        assert outcome(await coupons.claim(packet, "second")) == "packet_empty"
        assert await coupons.scalar("SELECT count(*) FROM coupons.claims") == 1
        assert await coupons.scalar("SELECT count(*) FROM coupons.referrals") == 1


async def claim_remembering(
    coupons: CouponsHarness, packet: Packet, empty: EmptyPackets, claimer: str, *,
    account: str | None = None,
) -> Claimed | Refused:  # fmt: skip
    """A claim as the brand API makes it, with the process's memory of empty packets."""
    request = ClaimRequest(share_code=packet.share_code, fan_key=fan(claimer))
    try:
        return await coupons.run(lambda session: claims.claim_share(
            session, request, account=account or packet.account, outbox=coupons.outbox, now=NOW,
            empty=empty,
        ))  # fmt: skip
    except Refused as refusal:
        return refusal


class TestEmptyPackets:
    async def test_a_packet_found_empty_still_answers_each_claimer_as_before(
        self, coupons: CouponsHarness
    ) -> None:
        campaign = await coupons.campaign(
            shares_per_packet=1, packet_rule=FixedTotal(total_cents=100)
        )
        packet = await coupons.packet(campaign)
        empty = EmptyPackets()
        claim = partial(claim_remembering, coupons, packet, empty)
        first = await claim("ann")
        assert outcome(await claim("bob")) == "packet_empty"
        known = empty.get(packet.share_code)
        assert known is not None
        assert known.claimers == {fan("ann")}
        again = await claim("ann")
        assert isinstance(first, Claimed)
        assert isinstance(again, Claimed)
        assert (again.claim.id, again.new) == (first.claim.id, False)
        assert outcome(await claim("owner")) == "own_packet"
        assert outcome(await claim("cat")) == "packet_empty"
        with pytest.raises(NotFound):
            await claim("dan", account="another-shop")
        await coupons.assert_conserved(campaign)
