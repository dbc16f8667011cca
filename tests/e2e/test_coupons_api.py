"""coupons over HTTP with its whole lifespan (consumers, outbox relay) on the test's broker and
database: operators make campaigns and keys, a paid order on Kafka issues a packet, friends
claim through a brand's key, coupons are redeemed once, and a refund on Kafka reverses that."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from services.coupons.claim_door import PATH as CLAIMS_ROUTE
from services.coupons.config import CouponsSettings
from services.coupons.main import create_app
from shared import topics
from shared.contracts import OrderPaid, OrderRefunded
from shared.events import CloudEvent
from tests.coupons_http import ACCOUNT, OPERATOR, brand, coupons, publish, settings
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
__all__ = ["brand", "coupons", "settings"]  # fixtures
CAMPAIGN = {
    "account": ACCOUNT, "name": "spring", "currency": "CNY", "budget_cents": 100_000,
    "budget_slices": 4,
    "terms": {"shares_per_packet": 3, "packet_rule": {"kind": "fixed", "total_cents": 900},
              "coupon": {"min_spend_cents": 1_000}},
}  # fmt: skip


async def host_packet(coupons: httpx.AsyncClient) -> dict[str, Any]:
    """A packet of the example campaign (a campaign of its own), issued by hand to the host."""
    campaign = (await coupons.post("/v1/campaigns", json=CAMPAIGN, headers=OPERATOR)).json()
    made = await coupons.post(
        f"/v1/campaigns/{campaign['id']}/packets", headers=OPERATOR,
        json={"owner_fan_key": "standard:shop-1:host"},
    )  # fmt: skip
    packet: dict[str, Any] = made.json()
    return packet


def order_event(kind: type[OrderPaid] | type[OrderRefunded], order_id: str) -> CloudEvent[Any]:
    data = kind(
        platform="standard", account=ACCOUNT, user_id="buyer", order_id=order_id,
        amount_cents=25_900, currency="CNY", occurred_at=datetime.now(UTC),
    )  # fmt: skip
    return CloudEvent.of(data, id=f"{kind.__name__}-{order_id}", source="test",
                         subject=data.fan_key)  # fmt: skip


async def test_the_operator_api_needs_its_token(
    coupons: httpx.AsyncClient, settings_for: Callable[..., Any]
) -> None:
    assert (await coupons.get("/v1/campaigns")).status_code == 401
    assert (
        await coupons.get("/v1/campaigns", headers={"Authorization": "Bearer x"})
    ).status_code == 401
    async with running(create_app(settings_for(CouponsSettings))) as off:
        assert (await off.get("/v1/campaigns", headers=OPERATOR)).status_code == 403


async def test_the_brand_api_needs_a_key_of_the_packets_account(
    coupons: httpx.AsyncClient, brand: dict[str, str]
) -> None:
    packet = await host_packet(coupons)
    url = f"/v1/packets/{packet['share_code']}"
    assert (await coupons.get(url)).status_code == 401
    other = await coupons.post(
        "/v1/accounts/shop-2/api-keys", json={"name": "elsewhere"}, headers=OPERATOR
    )
    assert (
        await coupons.get(url, headers={"Authorization": f"Bearer {other.json()['key']}"})
    ).status_code == 404
    assert (await coupons.get(url, headers=brand)).status_code == 200


async def test_a_campaign_from_order_to_refund(
    coupons: httpx.AsyncClient, brand: dict[str, str], settings: CouponsSettings
) -> None:
    made = await coupons.post("/v1/campaigns", json=CAMPAIGN, headers=OPERATOR)
    assert made.status_code == 201
    campaign_id = made.json()["id"]
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    await publish(settings, order_event(OrderPaid, order_id))

    async def issued() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await coupons.get(f"/v1/orders/{order_id}/packets", headers=brand)
        ).json()
        return found

    [packet] = await eventually(issued)
    assert (packet["owner_fan_key"], packet["total_cents"]) == ("standard:shop-1:buyer", 900)
    claim_url = f"/v1/packets/{packet['share_code']}/claims"
    own = await coupons.post(claim_url, json={"fan_key": "standard:shop-1:buyer"}, headers=brand)
    assert own.status_code == 409
    assert own.json()["detail"]["code"] == "own_packet"
    claimed = await coupons.post(claim_url, json={"fan_key": "wechat:oa:ann"}, headers=brand)
    assert claimed.status_code == 201
    again = await coupons.post(claim_url, json={"fan_key": "wechat:oa:ann"}, headers=brand)
    assert (again.status_code, again.json()) == (200, claimed.json())
    coupon = claimed.json()["coupon"]

    checkout = {"fan_key": "wechat:oa:ann", "order_id": "o-next", "order_cents": 2_000,
                "currency": "CNY"}  # fmt: skip
    code_url = f"/v1/coupons/{coupon['code']}"
    valid = await coupons.post(f"{code_url}/validation", json=checkout, headers=brand)
    assert valid.json()["valid"] is True
    key = {**brand, "Idempotency-Key": "checkout-1"}
    redeemed = await coupons.post(f"{code_url}/redemptions", json=checkout, headers=key)
    assert redeemed.status_code == 201
    assert redeemed.json()["discount_cents"] == coupon["amount_cents"]
    replay = await coupons.post(f"{code_url}/redemptions", json=checkout, headers=key)
    assert (replay.status_code, replay.json()["id"]) == (200, redeemed.json()["id"])
    other_key = {**brand, "Idempotency-Key": "checkout-2"}
    twice = await coupons.post(f"{code_url}/redemptions", json=checkout, headers=other_key)
    assert (twice.status_code, twice.json()["detail"]["code"]) == (409, "already_redeemed")

    await publish(settings, order_event(OrderRefunded, "o-next"))

    async def coupon_back() -> bool:
        answer = await coupons.post(f"{code_url}/validation", json=checkout, headers=brand)
        return bool(answer.json()["valid"])

    await eventually(coupon_back)
    page = (await coupons.get(f"/v1/packets/{packet['share_code']}", headers=brand)).json()
    assert [claim["best_luck"] for claim in page["claims"]] == [True]
    budget = (await coupons.get(f"/v1/campaigns/{campaign_id}", headers=OPERATOR)).json()["budget"]
    assert budget == {"total_cents": 100_000, "left_cents": 99_100, "issued_cents": 900,
                      "returned_cents": 0, "packets": 1}  # fmt: skip
    published = await read_topic(
        settings.kafka_bootstrap_servers, settings.topic(topics.COUPONS), expect=4
    )
    types = sorted(dict(record.headers)["ce_type"].decode() for record in published)
    assert types == ["scrm.coupon.redeemed.v1", "scrm.coupon.reversed.v1",
                     "scrm.packet.issued.v1", "scrm.share.claimed.v1"]  # fmt: skip


async def test_operators_issue_by_hand_once_per_order_and_see_refusals(
    coupons: httpx.AsyncClient,
) -> None:
    small = {**CAMPAIGN, "budget_cents": 1_000}
    campaign_id = (await coupons.post("/v1/campaigns", json=small, headers=OPERATOR)).json()["id"]
    url = f"/v1/campaigns/{campaign_id}/packets"
    body = {"owner_fan_key": "standard:shop-1:vip", "order_id": "gift-1"}
    first = await coupons.post(url, json=body, headers=OPERATOR)
    again = await coupons.post(url, json=body, headers=OPERATOR)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    short = await coupons.post(url, json={**body, "order_id": "gift-2"}, headers=OPERATOR)
    assert (short.status_code, short.json()["detail"]["code"]) == (409, "budget_exhausted")
    lowered = await coupons.patch(
        f"/v1/campaigns/{campaign_id}", json={"budget_cents": 0}, headers=OPERATOR
    )
    assert lowered.status_code == 409
    deleted = await coupons.delete(f"/v1/campaigns/{campaign_id}", headers=OPERATOR)
    assert deleted.status_code == 409


async def test_campaigns_are_changed_and_deleted_while_unused(coupons: httpx.AsyncClient) -> None:
    campaign_id = (await coupons.post("/v1/campaigns", json=CAMPAIGN, headers=OPERATOR)).json()[
        "id"
    ]
    url = f"/v1/campaigns/{campaign_id}"
    changed = await coupons.patch(
        url, json={"name": "summer", "status": "paused", "budget_cents": 150_000}, headers=OPERATOR
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["name"], body["status"], body["budget"]["left_cents"]) == (
        "summer", "paused", 150_000,
    )  # fmt: skip
    listed = await coupons.get("/v1/campaigns", params={"account": ACCOUNT}, headers=OPERATOR)
    assert [item["id"] for item in listed.json()] == [campaign_id]
    assert (await coupons.delete(url, headers=OPERATOR)).status_code == 204
    assert (await coupons.get(url, headers=OPERATOR)).status_code == 404


async def test_invalid_terms_are_refused_with_what_is_wrong(coupons: httpx.AsyncClient) -> None:
    terms = {"shares_per_packet": 10, "packet_rule": {"kind": "fixed", "total_cents": 5}}
    answer = await coupons.post(
        "/v1/campaigns", json={**CAMPAIGN, "terms": terms}, headers=OPERATOR
    )
    assert answer.status_code == 422
    assert "cannot make the shares" in answer.text


async def test_the_openapi_document_has_examples(coupons: httpx.AsyncClient) -> None:
    document = (await coupons.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for name in ("CampaignIn", "ClaimIn", "CheckoutIn", "PacketIssueIn"):
        assert schemas[name].get("examples"), name
    assert "/v1/packets/{share_code}/claims" in document["paths"]


async def test_a_revoked_key_opens_nothing_at_once(coupons: httpx.AsyncClient) -> None:
    made = (await coupons.post(
        f"/v1/accounts/{ACCOUNT}/api-keys", json={"name": "page"}, headers=OPERATOR
    )).json()  # fmt: skip
    key = {"Authorization": f"Bearer {made['key']}"}
    url = "/v1/orders/o-none/packets"
    assert (await coupons.get(url, headers=key)).status_code == 200  # now trusted for a while
    revoked = await coupons.delete(
        f"/v1/accounts/{ACCOUNT}/api-keys/{made['id']}", headers=OPERATOR
    )
    assert revoked.status_code == 204
    assert (await coupons.get(url, headers=key)).status_code == 401


async def test_claims_answer_alike_whether_the_key_is_trusted_yet_or_not(
    coupons: httpx.AsyncClient, brand: dict[str, str]
) -> None:
    packet = await host_packet(coupons)
    url = f"/v1/packets/{packet['share_code']}/claims"
    first = await coupons.post(url, json={"fan_key": "standard:shop-1:ann"}, headers=brand)
    # the key is trusted from now on: the same answers, from the claim door
    again = await coupons.post(url, json={"fan_key": "standard:shop-1:ann"}, headers=brand)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    own = await coupons.post(url, json={"fan_key": "standard:shop-1:host"}, headers=brand)
    assert own.status_code == 409
    assert own.json()["detail"]["code"] == "own_packet"
    missing = await coupons.post(
        "/v1/packets/nosuchcode/claims", json={"fan_key": "standard:shop-1:bo"}, headers=brand
    )
    assert missing.status_code == 404
    assert (await coupons.post(url, json={"fan": "x"}, headers=brand)).status_code == 422
    assert (await coupons.post(url, json={"fan_key": "standard:shop-1:cy"})).status_code == 401


def answered(status: int) -> float:
    labels = {"service": "coupons", "method": "POST", "route": CLAIMS_ROUTE, "status": str(status)}
    return REGISTRY.get_sample_value("scrm_http_requests_total", labels) or 0.0


async def test_the_claim_door_counts_its_answers_and_bounds_the_body(
    coupons: httpx.AsyncClient, brand: dict[str, str]
) -> None:
    packet = await host_packet(coupons)
    url = f"/v1/packets/{packet['share_code']}/claims"
    await coupons.post(url, json={"fan_key": "standard:shop-1:ann"}, headers=brand)  # trusts it
    before = {status: answered(status) for status in (201, 200, 409, 413)}
    for fan in ("bo", "cy", "ann", "host"):
        await coupons.post(url, json={"fan_key": f"standard:shop-1:{fan}"}, headers=brand)
    huge = await coupons.post(url, content=b"{" + b" " * 20_000 + b"}", headers={
        **brand, "Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 413
    after = {status: answered(status) for status in (201, 200, 409, 413)}
    assert {status: after[status] - before[status] for status in after} == {
        201: 2,
        200: 1,
        409: 1,
        413: 1,
    }


async def test_racing_claims_through_the_door_take_each_share_once(
    coupons: httpx.AsyncClient, brand: dict[str, str]
) -> None:
    """Claims at once for a packet of 3 shares, each fan twice: the claims in flight hold the
    free shares and a fan's two requests race, which the door's driver transaction leaves to
    a session; 3 fans win, each answered the same claim twice, the others refused."""
    packet = await host_packet(coupons)
    url = f"/v1/packets/{packet['share_code']}/claims"
    await coupons.post(url, json={"fan_key": "standard:shop-1:host"}, headers=brand)  # trusts it
    fans = [f"standard:shop-1:racer-{n}" for n in range(12)]
    answers = await asyncio.gather(*(
        coupons.post(url, json={"fan_key": fan}, headers=brand) for fan in fans + fans
    ))  # fmt: skip
    by_fan: dict[str, list[httpx.Response]] = {}
    for fan, answer in zip(fans + fans, answers, strict=True):
        by_fan.setdefault(fan, []).append(answer)
    won = {fan for fan, pair in by_fan.items() if {a.status_code for a in pair} <= {200, 201}}
    assert len(won) == 3
    for fan, pair in by_fan.items():
        if fan in won:
            assert sorted(a.status_code for a in pair) == [200, 201]
            assert pair[0].json()["coupon"] == pair[1].json()["coupon"]
        else:
            assert [a.json()["detail"]["code"] for a in pair] == ["packet_empty"] * 2
    checked = await coupons.get("/v1/invariants", headers=OPERATOR)
    assert checked.json()["holds"] is True, checked.json()
