"""A referral reward and its claw-back through Kafka, with coupons' whole lifespan: a buyer's
paid order issues a packet, a friend claims a share (and is referred), the friend's first paid
order rewards the buyer, and its refund revokes the reward and withdraws the friend's own
packet; the operator's invariant check finds nothing broken at the end."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.coupons.config import CouponsSettings
from shared import topics
from shared.contracts import OrderPaid, OrderRefunded
from shared.events import CloudEvent, decode
from tests.coupons_http import ACCOUNT, OPERATOR, coupons, publish, settings
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.e2e
__all__ = ["coupons", "settings"]  # fixtures
CAMPAIGN = {
    "account": ACCOUNT, "name": "friends", "currency": "CNY", "budget_cents": 100_000,
    "budget_slices": 4,
    "terms": {"shares_per_packet": 3, "packet_rule": {"kind": "fixed", "total_cents": 900},
              "referral": {"reward_cents": 1_000, "min_order_cents": 5_000}},
}  # fmt: skip


def order(
    kind: type[OrderPaid] | type[OrderRefunded], buyer: str, order_id: str
) -> CloudEvent[Any]:
    data = kind(
        platform="standard", account=ACCOUNT, user_id=buyer, order_id=order_id,
        amount_cents=25_900, currency="CNY", occurred_at=datetime.now(UTC),
    )  # fmt: skip
    return CloudEvent.of(data, id=f"{kind.__name__}-{order_id}", source="test",
                         subject=data.fan_key)  # fmt: skip


async def test_a_friends_first_order_rewards_the_buyer_and_its_refund_takes_it_back(
    coupons: httpx.AsyncClient, settings: CouponsSettings
) -> None:
    made = await coupons.post("/v1/campaigns", json=CAMPAIGN, headers=OPERATOR)
    campaign_id = made.json()["id"]
    key = await coupons.post(f"/v1/accounts/{ACCOUNT}/api-keys", json={"name": "page"},
                             headers=OPERATOR)  # fmt: skip
    brand = {"Authorization": f"Bearer {key.json()['key']}"}
    host_order, friend_order = (f"o-{uuid.uuid4().hex[:8]}" for _ in range(2))
    await publish(settings, order(OrderPaid, "host", host_order))

    async def packets_of(order_id: str) -> list[dict[str, Any]]:
        found = await coupons.get(f"/v1/orders/{order_id}/packets", headers=brand)
        packets: list[dict[str, Any]] = found.json()
        return packets

    [packet] = await eventually(lambda: packets_of(host_order))
    claimed = await coupons.post(f"/v1/packets/{packet['share_code']}/claims", headers=brand,
                                 json={"fan_key": "standard:shop-1:friend"})  # fmt: skip
    assert claimed.status_code == 201
    paid, refunded = (
        order(OrderPaid, "friend", friend_order),
        order(OrderRefunded, "friend", friend_order),
    )
    await publish(settings, paid, paid)  # redelivered: one reward
    await eventually(lambda: packets_of(friend_order))
    await publish(settings, refunded, refunded)

    published = await read_topic(
        settings.kafka_bootstrap_servers, settings.topic(topics.COUPONS), expect=6
    )
    types = sorted(dict(record.headers)["ce_type"].decode() for record in published)
    assert types == [
        "scrm.packet.issued.v1", "scrm.packet.issued.v1", "scrm.packet.withdrawn.v1",
        "scrm.referral.reward_revoked.v1", "scrm.referral.rewarded.v1", "scrm.share.claimed.v1",
    ]  # fmt: skip
    rewarded = next(
        r for r in published if dict(r.headers)["ce_type"] == b"scrm.referral.rewarded.v1"
    )
    assert dict(rewarded.headers)["ce_subject"] == b"standard:shop-1:host"
    revoked = next(
        r for r in published if dict(r.headers)["ce_type"] == b"scrm.referral.reward_revoked.v1"
    )
    # keyed as the reward (by the referrer), so read after it; with the order's amount
    assert revoked.key == rewarded.key
    reward_data = decode(rewarded.headers, rewarded.value).data
    revoked_data = decode(revoked.headers, revoked.value).data
    assert revoked_data.order_cents == reward_data.order_cents is not None
    checked = await coupons.get("/v1/invariants", headers=OPERATOR)
    assert checked.status_code == 200
    assert checked.json()["holds"] is True, checked.json()
    budget = (await coupons.get(f"/v1/campaigns/{campaign_id}", headers=OPERATOR)).json()["budget"]
    assert budget["left_cents"] == 100_000 - 900  # the friend's packet and the reward came back
    assert (await coupons.get("/v1/invariants")).status_code == 401
