"""A person's identities, end to end: a shop's signed webhooks say who the buyer is (customer id,
phone hash, UnionID), ingest passes it on, scoring links the identities that share one; an
operator merges and unmerges through the API; the profiles and their snapshots on
`scrm.profiles.v1` name the person."""

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from shared.contracts import FanIdentifiers, MessageReceived
from shared.kafka import EventProducer
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.e2e.test_scoring_profiles import event, profile_records, publish
from tests.helpers import eventually, running, signed_webhook

pytestmark = pytest.mark.e2e
TOKEN = "operator-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEBHOOK = f"/v1/webhooks/standard/{ACCOUNT}"
PHONE = hashlib.sha256(b"+8613800000000").hexdigest()
BUYER, CHATTER = f"standard:{ACCOUNT}:buyer-7", f"standard:{ACCOUNT}:chat-7"
WECHAT, WEIBO = "wechat:gh_brand:o6_7", "weibo:brand:fan-7"


@pytest.fixture
def scoring_settings(settings_for: Callable[..., Any]) -> ScoringSettings:
    settings: ScoringSettings = settings_for(ScoringSettings, operator_token=TOKEN)
    return settings


def paid(user: str, person: dict[str, str], cents: int) -> dict[str, Any]:
    data = {"order_id": uuid.uuid4().hex, "user_id": user, "amount_cents": cents,
            "currency": "CNY", **person}  # fmt: skip
    return {"type": "order.paid", "timestamp": datetime.now(UTC).isoformat(), "data": data}


def said(user: str, person: dict[str, str]) -> dict[str, Any]:
    data = {"message_id": uuid.uuid4().hex, "user_id": user, "text": "hello", **person}
    return {"type": "message.received", "timestamp": datetime.now(UTC).isoformat(), "data": data}


async def person_of(client: httpx.AsyncClient, fan_key: str, size: int) -> dict[str, Any] | None:
    """The fan's profile once its person has `size` identities (0: on its own)."""
    answer = await client.get(f"/v1/fans/{fan_key}")
    found: dict[str, Any] | None = answer.json() if answer.status_code == 200 else None
    return found if found is not None and len(found["identities"]) == size else None


def wechat_message(unionid: str) -> Any:
    _, account, user = WECHAT.split(":")
    return event(
        MessageReceived(
            platform="wechat", account=account, user_id=user, occurred_at=datetime.now(UTC),
            message_id=uuid.uuid4().hex, identifiers=FanIdentifiers(unionid=unionid),
        )
    )  # fmt: skip


class TestIdentitiesEndToEnd:
    async def test_identifiers_from_webhooks_link_and_an_operator_merges_and_unmerges(
        self,
        ingest: httpx.AsyncClient,
        scoring_settings: ScoringSettings,
        producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:
        person = {"customer_id": "c-77", "phone_sha256": PHONE, "unionid": "u-77"}
        for payload in (paid("buyer-7", person, 88_800), said("chat-7", {"unionid": "u-77"})):
            body, headers = signed_webhook(payload)
            accepted = await ingest.post(WEBHOOK, content=body, headers=headers)
            assert accepted.status_code == 200, accepted.text
        await publish(producer, [wechat_message("u-77")])
        weibo = MessageReceived(
            platform="weibo", account="brand", user_id="fan-7", occurred_at=datetime.now(UTC),
            message_id="w1",
        )  # fmt: skip
        await publish(producer, [event(weibo)])
        async with running(create_app(scoring_settings)) as client:
            found = await eventually(lambda: person_of(client, CHATTER, 3))
            assert found is not None
            assert found["person_key"] == BUYER, "the least fan key names the person"
            linked_by = {i["fan_key"]: i["linked_by"] for i in found["identities"]}
            assert linked_by == {BUYER: ["customer_id", "phone_sha256", "unionid"],
                                 CHATTER: ["unionid"], WECHAT: ["unionid"]}  # fmt: skip
            assert found["scores"]["wallet"]["total"] != "0", "the buyer's order counts"
            assert found["interaction_count"] == 1, "its own channel data"

            merged = await client.post(
                f"/v1/fans/{WEIBO}/merge", headers=AUTH, json={"fan_keys": [WECHAT]}
            )
            assert merged.status_code == 202, merged.text
            found = await eventually(lambda: person_of(client, WEIBO, 4))
            assert found is not None
            assert found["person_key"] == BUYER
            assert found["scores"]["wallet"]["total"] != "0", "the buyer's order is its too"

            unmerged = await client.post(f"/v1/fans/{WECHAT}/unmerge", headers=AUTH, json={})
            assert unmerged.status_code == 202, unmerged.text
            assert await eventually(lambda: person_of(client, WECHAT, 0)) is not None
            assert await eventually(lambda: person_of(client, WEIBO, 0)) is not None
            assert await eventually(lambda: person_of(client, CHATTER, 2)) is not None
        snapshots = await profile_records(infrastructure, scoring_settings, expect=99, within=6)
        last = {record.data.fan_key: record.data for record in snapshots}
        assert (last[BUYER].person_key, last[CHATTER].person_key) == (BUYER, BUYER)
        assert (last[WECHAT].person_key, last[WEIBO].person_key) == (None, None)
        weibos = [record.data.person_key for record in snapshots if record.data.fan_key == WEIBO]
        assert weibos == [None, BUYER, None], "alone, merged, alone again"

    async def test_hostile_identifiers_are_refused_at_the_door(
        self, ingest: httpx.AsyncClient
    ) -> None:
        for person in ({"phone_sha256": "+8613800000000"}, {"customer_id": "a\x00b"},
                       {"unionid": "x" * 201}):  # fmt: skip
            body, headers = signed_webhook(paid("buyer-8", person, 100))
            refused = await ingest.post(WEBHOOK, content=body, headers=headers)
            assert refused.status_code == 400, (person, refused.text)

    async def test_merges_want_the_token_known_fans_and_another_identity(
        self, scoring_settings: ScoringSettings, producer: EventProducer
    ) -> None:
        await publish(producer, [wechat_message("u-1")])
        async with running(create_app(scoring_settings)) as client:
            await eventually(lambda: person_of(client, WECHAT, 0))
            anonymous = await client.post(f"/v1/fans/{WECHAT}/merge", json={"fan_keys": [WEIBO]})
            unknown = await client.post(
                f"/v1/fans/{WECHAT}/merge", headers=AUTH, json={"fan_keys": [WEIBO]}
            )
            itself = await client.post(
                f"/v1/fans/{WECHAT}/merge", headers=AUTH, json={"fan_keys": [WECHAT]}
            )
            too_many = await client.post(
                f"/v1/fans/{WECHAT}/merge", headers=AUTH,
                json={"fan_keys": [f"weibo:brand:{n}" for n in range(21)]},
            )  # fmt: skip
            nobody = await client.post(f"/v1/fans/{WEIBO}/unmerge", headers=AUTH, json={})
        assert anonymous.status_code == 401
        assert unknown.status_code == 404
        assert WEIBO in unknown.json()["detail"]
        assert (itself.status_code, too_many.status_code) == (422, 422)
        assert nobody.status_code == 404
