"""A snooze ends at its time, whenever responder gets to it: clocks paused by a snooze run
again from the snooze's end, also when responder was down then and wakes the conversation
later, so the deadlines are those the events give and not those of responder's uptime."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

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
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the default policy: always open, 10 min
AGENT = {"Authorization": "Bearer agent-secret"}


@pytest.fixture
def snooze_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=T0 + timedelta(minutes=2),
        agent_token="agent-secret", timer_scan_seconds=0.2,
    )  # fmt: skip
    return settings


class TestASnoozeEndingWhileResponderIsDown:
    async def test_the_clock_runs_again_from_the_snoozes_end(
        self, snooze_settings: ResponderSettings, infrastructure: Infrastructure
    ) -> None:
        data = MessageReceived(
            platform="weibo", account="brand", user_id="sleeper", message_id="m1",
            occurred_at=T0, text="hello?",
        )  # fmt: skip
        producer = EventProducer(snooze_settings)
        await producer.start()
        try:
            await producer.publish(CloudEvent.of(data, id=uuid.uuid4().hex, source="test",
                                                 subject=data.fan_key))  # fmt: skip
        finally:
            await producer.stop()
        async with running(create_app(snooze_settings)) as client:
            listing = await eventually(lambda: _listed(client))
            snoozed = await client.post(
                f"/v1/conversations/{listing[0]['id']}/snooze", headers=AGENT,
                json={"until": (T0 + timedelta(minutes=12)).isoformat()},
            )  # fmt: skip
            assert snoozed.status_code == 204, snoozed.text
        # Down from 09:02 to 09:30. The snooze ended at 09:12 with 8 minutes left: due 09:20.
        later = {**snooze_settings.model_dump(), "simulated_start": T0 + timedelta(minutes=30)}
        async with running(create_app(ResponderSettings(**later))):
            records = await read_topic(
                infrastructure.bootstrap_servers, snooze_settings.topic(SLA), expect=5
            )
        told = {event.type.split(".")[2]: event.data
                for event in (decode(r.headers, r.value) for r in records)}  # fmt: skip
        resumed = told["resumed"]
        assert (resumed.resumed_at, resumed.paused_seconds) == (T0 + timedelta(minutes=12), 600)
        assert told["breached"].deadline == T0 + timedelta(minutes=20)


async def _listed(client: Any) -> list[dict[str, Any]]:
    listing: list[dict[str, Any]] = (await client.get("/v1/conversations")).json()
    return listing
