"""The claim page's HTTP side with coupons' whole lifespan: a brand mints signed claim links
with its API key; the page's requests claim with them, under the claim API's rules; expired,
forged, malformed and other accounts' links are refused with their code (a page of their own
for the page itself), never with a 500."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from services.coupons import claim_links
from services.coupons.claim_links import ClaimLink
from services.coupons.config import CouponsSettings
from services.coupons.main import create_app
from tests.helpers import running

pytestmark = pytest.mark.e2e
TOKEN = "operator-token-for-tests"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "claim-link-secret-for-tests-0123456789"
ACCOUNT = "shop-1"
OWNER = "wechat:oa-brand:Xiaomei"
CAMPAIGN = {
    "account": ACCOUNT, "name": "spring", "currency": "CNY", "budget_cents": 100_000,
    "terms": {"shares_per_packet": 3, "packet_rule": {"kind": "fixed", "total_cents": 900},
              "coupon": {"min_spend_cents": 1_000}},
}  # fmt: skip


@dataclass(frozen=True)
class Shared:
    """A packet shared by OWNER, and the brand API key of its account."""

    share_code: str
    brand: dict[str, str]


async def brand_key(coupons: httpx.AsyncClient, account: str = ACCOUNT) -> dict[str, str]:
    made = await coupons.post(
        f"/v1/accounts/{account}/api-keys", json={"name": "claim page"}, headers=OPERATOR
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


async def share_packet(coupons: httpx.AsyncClient, **terms: Any) -> Shared:
    campaign = {**CAMPAIGN, "terms": {**CAMPAIGN["terms"], **terms}}  # type: ignore[dict-item]
    made = await coupons.post("/v1/campaigns", json=campaign, headers=OPERATOR)
    assert made.status_code == 201, made.text
    issued = await coupons.post(
        f"/v1/campaigns/{made.json()['id']}/packets", headers=OPERATOR,
        json={"owner_fan_key": OWNER, "order_id": "order-1"},
    )  # fmt: skip
    assert issued.status_code == 201, issued.text
    return Shared(issued.json()["share_code"], await brand_key(coupons))


async def claim_link(
    coupons: httpx.AsyncClient, shared: Shared, fan_key: str, **fields: Any
) -> str:
    """The claim page's address (path and query) for the fan, as the brand's back end gets it."""
    made = await coupons.post(
        f"/v1/packets/{shared.share_code}/claim-links", headers=shared.brand,
        json={"fan_key": fan_key, **fields},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["path"])


def with_path(link: str, suffix: str) -> str:
    address = urlsplit(link)
    return f"{address.path}{suffix}?{address.query}"


def forged(link: str, **changes: str) -> str:
    address = urlsplit(link)
    params = {**dict(parse_qsl(address.query)), **changes}
    return f"{address.path}?{httpx.QueryParams(params)}"


def expired_link(share_code: str, fan_key: str, *, account: str = ACCOUNT) -> str:
    link = ClaimLink(
        account=account, share_code=share_code, claimer=fan_key,
        expires_at=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1),
    )  # fmt: skip
    return claim_links.path(SECRET.encode(), link)


def signed_link(share_code: str, fan_key: str, *, account: str) -> str:
    link = ClaimLink(
        account=account, share_code=share_code, claimer=fan_key,
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5),
    )  # fmt: skip
    return claim_links.path(SECRET.encode(), link)


@pytest.fixture
def settings(settings_for: Callable[..., Any]) -> CouponsSettings:
    made: CouponsSettings = settings_for(
        CouponsSettings, operator_token=TOKEN, claim_link_secret=SECRET
    )
    return made


@pytest.fixture
async def coupons(settings: CouponsSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings)) as client:
        yield client


class TestMintingClaimLinks:
    async def test_a_brand_key_mints_a_link_to_its_own_packets_only(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons)
        made = await coupons.post(
            f"/v1/packets/{shared.share_code}/claim-links", headers=shared.brand,
            json={"fan_key": "wechat:oa-brand:Chen", "valid_seconds": 600},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["url"] == "http://test" + made.json()["path"]
        other = await brand_key(coupons, "shop-2")
        foreign = await coupons.post(
            f"/v1/packets/{shared.share_code}/claim-links", headers=other,
            json={"fan_key": "wechat:oa-brand:Chen"},
        )  # fmt: skip
        assert foreign.status_code == 404
        keyless = await coupons.post(
            f"/v1/packets/{shared.share_code}/claim-links", json={"fan_key": "wechat:x:y"}
        )
        assert keyless.status_code == 401

    async def test_a_link_longer_than_the_longest_allowed_is_refused(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons)
        made = await coupons.post(
            f"/v1/packets/{shared.share_code}/claim-links", headers=shared.brand,
            json={"fan_key": "wechat:oa-brand:Chen", "valid_seconds": 86_401},
        )  # fmt: skip
        assert made.status_code == 422

    async def test_without_a_secret_claim_links_and_the_page_are_off(
        self, settings_for: Callable[..., Any]
    ) -> None:
        async with running(create_app(settings_for(CouponsSettings, operator_token=TOKEN))) as off:
            shared = await share_packet(off)
            made = await off.post(
                f"/v1/packets/{shared.share_code}/claim-links", headers=shared.brand,
                json={"fan_key": "wechat:oa-brand:Chen"},
            )  # fmt: skip
            assert made.status_code == 403
            assert (await off.get(f"/p/{shared.share_code}?claimer=x")).status_code == 403


class TestClaimingThroughTheLink:
    async def test_a_friend_claims_once_and_sees_the_same_claim_again(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons)
        link = await claim_link(coupons, shared, "wechat:oa-brand:Chen")
        page = await coupons.get(link)
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        before = (await coupons.get(with_path(link, "/view"))).json()
        assert (before["owner"], before["yours"], before["friends"]) == ("Xiaomei", None, [])
        first = await coupons.post(with_path(link, "/claims"))
        again = await coupons.post(with_path(link, "/claims"))
        assert (first.status_code, again.status_code) == (201, 200), first.text
        assert first.json()["yours"] == again.json()["yours"]
        friends = again.json()["friends"]
        assert [(f["name"], f["you"], f["best_luck"]) for f in friends] == [("Chen", True, True)]
        packet = await coupons.get(f"/v1/packets/{shared.share_code}", headers=shared.brand)
        claim = packet.json()["claims"][0]
        assert (claim["fan_key"], claim["amount_cents"]) == (
            "wechat:oa-brand:Chen",
            first.json()["yours"]["amount_cents"],
        )

    async def test_other_friends_are_shown_by_a_masked_handle(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons)
        first = await claim_link(coupons, shared, "wechat:oa-brand:Chen_Jing")
        await coupons.post(with_path(first, "/claims"))
        second = await claim_link(coupons, shared, "wechat:oa-brand:Wang")
        seen = (await coupons.post(with_path(second, "/claims"))).json()
        assert [friend["name"] for friend in seen["friends"]] == ["Ch…ng", "Wang"]
        assert sum(friend["best_luck"] for friend in seen["friends"]) == 1

    async def test_the_owner_is_refused_their_own_packet(self, coupons: httpx.AsyncClient) -> None:
        shared = await share_packet(coupons)
        answer = await coupons.post(with_path(await claim_link(coupons, shared, OWNER), "/claims"))
        assert (answer.status_code, answer.json()["detail"]["code"]) == (409, "own_packet")

    async def test_an_ended_campaign_refuses_the_claim(self, coupons: httpx.AsyncClient) -> None:
        shared = await share_packet(coupons)
        campaign_id = (await coupons.get("/v1/campaigns", headers=OPERATOR)).json()[0]["id"]
        ended = await coupons.patch(
            f"/v1/campaigns/{campaign_id}", json={"status": "ended"}, headers=OPERATOR
        )
        assert ended.status_code == 200, ended.text
        link = await claim_link(coupons, shared, "wechat:oa-brand:Chen")
        answer = await coupons.post(with_path(link, "/claims"))
        assert (answer.status_code, answer.json()["detail"]["code"]) == (409, "campaign_ended")

    async def test_the_last_share_taken_leaves_the_next_friend_an_empty_packet(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons, shares_per_packet=1)
        await coupons.post(with_path(await claim_link(coupons, shared, "wechat:o:a"), "/claims"))
        late = await coupons.post(
            with_path(await claim_link(coupons, shared, "wechat:o:b"), "/claims")
        )
        assert (late.status_code, late.json()["detail"]["code"]) == (409, "packet_empty")


class TestRefusedLinks:
    async def test_an_expired_link_is_a_410_page_and_claims_nothing(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons)
        link = expired_link(shared.share_code, "wechat:oa-brand:Chen")
        page = await coupons.get(link)
        assert page.status_code == 410
        assert "has expired" in page.text
        claimed = await coupons.post(with_path(link, "/claims"))
        assert (claimed.status_code, claimed.json()["detail"]["code"]) == (410, "link_expired")

    @pytest.mark.parametrize(
        "change",
        [{"claimer": "wechat:oa-brand:Mallory"}, {"expires": "4102444800"}, {"sig": "A" * 43}],
    )
    async def test_a_link_changed_in_any_field_is_a_403(
        self, coupons: httpx.AsyncClient, change: dict[str, str]
    ) -> None:
        shared = await share_packet(coupons)
        link = forged(await claim_link(coupons, shared, "wechat:oa-brand:Chen"), **change)
        page = await coupons.get(link)
        assert page.status_code == 403
        assert "signature does not match" in page.text
        claimed = await coupons.post(with_path(link, "/claims"))
        assert (claimed.status_code, claimed.json()["detail"]["code"]) == (403, "link_forged")

    async def test_a_link_of_another_account_opens_nothing(
        self, coupons: httpx.AsyncClient
    ) -> None:
        shared = await share_packet(coupons)
        link = signed_link(shared.share_code, "wechat:oa-brand:Chen", account="shop-2")
        assert (await coupons.get(link)).status_code == 404
        claimed = await coupons.post(with_path(link, "/claims"))
        assert (claimed.status_code, claimed.json()["detail"]["code"]) == (404, "no_packet")

    @pytest.mark.parametrize(
        "address",
        ["/p/abc", "/p/abc?claimer=x&account=shop-1&expires=99999999999999&sig=x",
         "/p/not%20a%20code?claimer=x", "/p/abc?claimer=" + "x" * 5_000],
    )  # fmt: skip
    async def test_a_malformed_link_is_a_400_page(
        self, coupons: httpx.AsyncClient, address: str
    ) -> None:
        page = await coupons.get(address)
        assert page.status_code == 400
        assert "incomplete or damaged" in page.text

    async def test_the_refusal_page_escapes_nothing_it_was_given(
        self, coupons: httpx.AsyncClient
    ) -> None:
        page = await coupons.get("/p/<script>?claimer=<script>alert(1)</script>")
        assert page.status_code in {400, 404}
        assert "<script>alert" not in page.text
