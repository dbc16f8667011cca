"""A conversation resolved after its deadlines passed tells their breaches, also when no timer
had told them yet (the timers of a restarted replica not read yet, or the simulated clock moved
and the resolution asked at once): what `scrm.sla.v1` says is what the database keeps."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.contracts import MessageReceived
from shared.events import CloudEvent, decode
from shared.kafka import EventProducer
from shared.topics import SLA
from tests.conftest import Infrastructure
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = {"Authorization": "Bearer agent-secret"}
ADMIN = {"Authorization": "Bearer admin-secret"}
POLICY = {"id": "desk", "name": "Desk", "first_reply_seconds": 600, "next_reply_seconds": 600,
          "resolution_seconds": 1800}  # fmt: skip


@pytest.fixture
def resolve_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=T0, agent_token="agent-secret",
        admin_token="admin-secret", timer_scan_seconds=0.2,
    )  # fmt: skip
    return settings


class TestResolvingAfterTheDeadlines:
    async def test_tells_the_breaches_no_timer_told_yet(
        self, resolve_settings: ResponderSettings, infrastructure: Infrastructure
    ) -> None:
        async with running(create_app(resolve_settings)) as client:
            installed = await client.put("/v1/admin/sla-policies", headers=ADMIN,
                                         json={"policies": [POLICY]})  # fmt: skip
            assert installed.status_code == 200, installed.text
            await _publish(resolve_settings)
            conversation = await eventually(lambda: _listed(client))
        # Restarted with timers read once, for the next second only: none of the deadlines.
        unread = {**resolve_settings.model_dump(), "timer_horizon_seconds": 1,
                  "timer_scan_seconds": 300}  # fmt: skip
        async with running(create_app(ResponderSettings(**unread))) as client:
            # ready: its timers' first scan is done, before the clock jumps past the deadlines
            await eventually(lambda: _ready(client))
            later = {"now": (T0 + timedelta(minutes=40)).isoformat()}
            moved = await client.put("/v1/admin/clock", headers=ADMIN, json=later)
            assert moved.status_code == 200, moved.text
            resolved = await client.post(f"/v1/conversations/{conversation}/resolve", headers=AGENT)
            assert resolved.status_code == 204, resolved.text
            stored = (await client.get(f"/v1/conversations/{conversation}")).json()["clocks"]
        records = await read_topic(
            infrastructure.bootstrap_servers, resolve_settings.topic(SLA), expect=5, within=3
        )
        told = sorted((e.data.target, e.type.split(".")[2], e.data.deadline)
                      for e in (decode(r.headers, r.value) for r in records))  # fmt: skip
        assert told == [
            ("first_reply", "breached", T0 + timedelta(minutes=10)),
            ("first_reply", "started", T0 + timedelta(minutes=10)),
            ("resolution", "breached", T0 + timedelta(minutes=30)),
            ("resolution", "started", T0 + timedelta(minutes=30)),
        ]
        assert sorted((c["target"], c["outcome"], c["breached"]) for c in stored) == [
            ("first_reply", "cancelled", True),
            ("resolution", "late", True),
        ]


async def _ready(client: httpx.AsyncClient) -> bool:
    return bool((await client.get("/readyz")).status_code == 200)


async def _publish(settings: ResponderSettings) -> None:
    data = MessageReceived(
        platform="weibo", account="brand", user_id="waiting", message_id="m1", occurred_at=T0,
        text="anyone?",
    )  # fmt: skip
    producer = EventProducer(settings)
    await producer.start()
    try:
        event = CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)
        await producer.publish(event)
    finally:
        await producer.stop()


async def _listed(client: httpx.AsyncClient) -> str | None:
    listing = (await client.get("/v1/conversations")).json()
    return str(listing[0]["id"]) if listing else None
