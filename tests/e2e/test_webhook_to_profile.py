"""A signed webhook in; its effects out in every service that consumes it."""

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.ingest.config import IngestSettings
from services.ingest.main import create_app as create_ingest
from services.ingest.state import IngestState
from shared.events import decode
from shared.topics import EVENTS, PROFILES
from tests.conftest import Infrastructure
from tests.e2e.conftest import ACCOUNT
from tests.helpers import (
    eventually,
    message_payload,
    metric_value,
    read_topic,
    running,
    signed_webhook,
)

pytestmark = pytest.mark.e2e
WEBHOOK = f"/v1/webhooks/standard/{ACCOUNT}"


async def interaction_count(scoring: httpx.AsyncClient, fan: str) -> int | None:
    response = await scoring.get(f"/v1/fans/{fan}")
    return response.json()["interaction_count"] if response.status_code == 200 else None


class TestSignedWebhookUpdatesTheProfile:
    async def test_a_signed_message_creates_the_fan_profile(
        self, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
    ) -> None:
        body, headers = signed_webhook(message_payload("u1", "m1"))
        accepted = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert len(accepted.json()["event_ids"]) == 1
        fan = f"standard:{ACCOUNT}:u1"
        assert await eventually(lambda: interaction_count(scoring, fan)) == 1

    async def test_the_same_webhook_delivered_again_produces_no_second_event(
        self, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient,
        infrastructure: Infrastructure, ingest_settings: IngestSettings,
    ) -> None:  # fmt: skip
        fan = f"standard:{ACCOUNT}:u2"
        body, headers = signed_webhook(message_payload("u2", "m-once"))
        counted_before = await metric_value(
            ingest, "scrm_ingest_webhooks_total", platform="standard", outcome="duplicate"
        )
        first = await ingest.post(WEBHOOK, content=body, headers=headers)
        again = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert again.status_code == 200
        assert again.json()["event_ids"] == first.json()["event_ids"]
        duplicates = await metric_value(
            ingest, "scrm_ingest_webhooks_total", platform="standard", outcome="duplicate"
        )
        assert duplicates - counted_before == 1
        events = await read_topic(
            infrastructure.bootstrap_servers, ingest_settings.topic(EVENTS), expect=2, within=3
        )
        assert len(events) == 1
        assert await eventually(lambda: interaction_count(scoring, fan)) == 1

    async def test_simultaneous_copies_of_one_webhook_make_one_event(
        self, ingest: httpx.AsyncClient, infrastructure: Infrastructure,
        ingest_settings: IngestSettings,
    ) -> None:  # fmt: skip
        body, headers = signed_webhook(message_payload("u7", "m-burst"))
        answers = await asyncio.gather(
            *(ingest.post(WEBHOOK, content=body, headers=headers) for _ in range(10))
        )
        assert {answer.status_code for answer in answers} == {200}
        events = await read_topic(
            infrastructure.bootstrap_servers, ingest_settings.topic(EVENTS), expect=2, within=3
        )
        assert len(events) == 1

    async def test_a_retry_with_a_new_delivery_id_but_the_same_message_is_one_event(
        self, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
    ) -> None:
        payload = message_payload("u3", "m-retried")
        first = await ingest.post(WEBHOOK, content=(s := signed_webhook(payload))[0], headers=s[1])
        second = await ingest.post(WEBHOOK, content=(s := signed_webhook(payload))[0], headers=s[1])
        assert first.json()["event_ids"] == second.json()["event_ids"]

    async def test_a_new_fan_is_announced_on_the_profiles_topic_through_the_outbox(
        self, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient,
        infrastructure: Infrastructure, ingest_settings: IngestSettings,
    ) -> None:  # fmt: skip
        body, headers = signed_webhook(message_payload("u4", "m4"))
        await ingest.post(WEBHOOK, content=body, headers=headers)
        records = await read_topic(
            infrastructure.bootstrap_servers, ingest_settings.topic(PROFILES), expect=1
        )
        assert len(records) == 1
        assert records[0].key == f"standard:{ACCOUNT}:u4".encode()
        profile = decode(records[0].headers, records[0].value)
        assert profile.type == "scrm.profile.updated.v1"
        assert profile.data.interaction_count == 1


class TestOtherConsumers:
    async def test_responder_opens_a_conversation_for_a_message(
        self, ingest: httpx.AsyncClient, responder: httpx.AsyncClient
    ) -> None:
        body, headers = signed_webhook(message_payload("u5", "m5", "where is my order?"))
        await ingest.post(WEBHOOK, content=body, headers=headers)

        async def conversations() -> list[dict[str, object]]:
            listing: list[dict[str, object]] = (await responder.get("/v1/conversations")).json()
            return listing

        opened = await eventually(conversations)
        assert opened[0]["fan_key"] == f"standard:{ACCOUNT}:u5"
        assert opened[0]["unanswered_count"] == 1

    async def test_coupons_records_a_paid_then_refunded_order(
        self, ingest: httpx.AsyncClient, coupons: httpx.AsyncClient
    ) -> None:
        order = {"order_id": f"o-{uuid.uuid4().hex[:6]}", "user_id": "u6",
                 "amount_cents": 12_900, "currency": "cny"}  # fmt: skip
        now = datetime.now(UTC).isoformat()
        for kind in ("order.paid", "order.refunded"):
            body, headers = signed_webhook({"type": kind, "timestamp": now, "data": order})
            assert (await ingest.post(WEBHOOK, content=body, headers=headers)).status_code == 200
        url = f"/v1/accounts/{ACCOUNT}/orders/{order['order_id']}"

        async def refunded() -> dict[str, object] | None:
            response = await coupons.get(url)
            found = response.json() if response.status_code == 200 else None
            return found if found and found["status"] == "refunded" else None

        recorded = await eventually(refunded)
        assert recorded is not None
        assert recorded["amount_cents"] == 12_900
        assert recorded["currency"] == "CNY"


async def test_webhooks_are_counted_under_their_route_template(
    ingest_settings: IngestSettings,
) -> None:
    route = "/v1/webhooks/{platform}/{account_id}"
    async with running(create_ingest(ingest_settings)) as ingest:
        counted_before = await metric_value(ingest, "scrm_http_requests_total", route=route)
        body, headers = signed_webhook(message_payload("u9", "m-slow"))
        accepted = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        again = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert again.json()["event_ids"] == accepted.json()["event_ids"]
        forged = await ingest.post(WEBHOOK, content=body + b" ", headers=headers)
        assert forged.status_code == 401
        assert forged.json()["reason"] == "signature"
        counted = await metric_value(ingest, "scrm_http_requests_total", route=route)
        assert counted - counted_before == 3


async def test_an_unexpected_error_answers_500_and_is_counted(
    ingest_settings: IngestSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_ingest(ingest_settings)
    route = "/v1/webhooks/{platform}/{account_id}"
    async with running(app) as ingest:

        async def broken(*_: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(IngestState.of(app.state).intake, "receive", broken)
        body, headers = signed_webhook(message_payload("u10", "m-bug"))
        failed = await ingest.post(WEBHOOK, content=body, headers=headers)
        assert failed.status_code == 500
        assert "a bug" not in failed.text
        assert await metric_value(ingest, "scrm_http_requests_total", route=route, status="500")
        monkeypatch.undo()
        assert (await ingest.post(WEBHOOK, content=body, headers=headers)).status_code == 200
