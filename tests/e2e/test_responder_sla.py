"""Reply-time SLA clocks, end to end on a simulated clock: fan messages from the events topic
start clocks, agents answer, snooze and resolve through the API, the timers warn and breach as
the clock passes deadlines, and every clock's events reach `scrm.sla.v1` once, a restart of
responder included."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.contracts import MessageReceived, ProfileUpdated, ReplyFailed
from shared.db import create_engine
from shared.events import CloudEvent, decode
from shared.kafka import EventProducer
from shared.topics import REPLIES, SLA
from tests.conftest import Infrastructure
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = {"Authorization": "Bearer agent-secret"}
ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture
def responder_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=T0, agent_token="agent-secret",
        admin_token="admin-secret", timer_scan_seconds=0.2,
    )  # fmt: skip
    return settings


@pytest.fixture
async def producer(responder_settings: ResponderSettings) -> Any:
    producer = EventProducer(responder_settings)
    await producer.start()
    yield producer
    await producer.stop()


def message(user: str, minutes: float, text: str = "where is my order?") -> CloudEvent[Any]:
    data = MessageReceived(
        platform="weibo", account="brand", user_id=user, message_id=uuid.uuid4().hex,
        occurred_at=T0 + timedelta(minutes=minutes), text=text,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


async def conversation_of(client: httpx.AsyncClient, user: str) -> dict[str, Any] | None:
    listing = (await client.get("/v1/conversations")).json()
    found = [c for c in listing if c["fan_key"] == f"weibo:brand:{user}"]
    if not found:
        return None
    detail: dict[str, Any] = (await client.get(f"/v1/conversations/{found[0]['id']}")).json()
    return detail


async def opened(client: httpx.AsyncClient, user: str) -> dict[str, Any]:
    found = await eventually(lambda: conversation_of(client, user))
    assert found is not None
    return found


async def advance(client: httpx.AsyncClient, minutes: float) -> None:
    moved = await client.post(
        "/v1/admin/clock/advance", json={"seconds": minutes * 60}, headers=ADMIN
    )
    assert moved.status_code == 200, moved.text


async def sla_events(
    infrastructure: Infrastructure, settings: ResponderSettings, expect: int, within: float = 10
) -> list[tuple[str, Any, str]]:
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(SLA), expect=expect, within=within
    )
    events = [decode(record.headers, record.value) for record in records]
    return [(event.type.split(".")[2], event.data, event.id) for event in events]


class TestClocksOnASimulatedDay:
    async def test_an_unanswered_message_warns_then_breaches_as_the_clock_passes(
        self, responder_settings: ResponderSettings, producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        await producer.publish(message("late", 1))
        async with running(create_app(responder_settings)) as client:
            found = await opened(client, "late")
            first = next(c for c in found["clocks"] if c["target"] == "first_reply")
            assert first["deadline"] == "2026-03-02T09:11:00Z"
            assert first["warning_at"] == "2026-03-02T09:09:00Z"
            await advance(client, 9)
            await eventually(lambda: _flag(client, "late", "warned"))
            await advance(client, 2)
            await eventually(lambda: _flag(client, "late", "breached"))
        events = await sla_events(infrastructure, responder_settings, expect=3)
        assert [kind for kind, _, _ in events] == ["started", "warning", "breached"]
        assert len({event_id for *_, event_id in events}) == 3
        assert events[2][1].deadline == T0 + timedelta(minutes=11)

    async def test_a_reply_in_time_is_met_and_asked_of_ingest(
        self, responder_settings: ResponderSettings, producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        await producer.publish(message("quick", 0))
        async with running(create_app(responder_settings)) as client:
            found = await opened(client, "quick")
            await advance(client, 4)
            answered = await client.post(
                f"/v1/conversations/{found['id']}/replies", headers=AGENT,
                json={"text": "On its way!", "agent_id": "mei", "reply_id": "r-1"},
            )  # fmt: skip
            assert answered.status_code == 202, answered.text
            again = await client.post(
                f"/v1/conversations/{found['id']}/replies", headers=AGENT,
                json={"text": "On its way!", "reply_id": "r-1"},
            )  # fmt: skip
            assert again.json() == {"reply_id": "r-1", "sent": False}
            found = await opened(client, "quick")
            assert found["status"] == "pending"
            first = next(c for c in found["clocks"] if c["target"] == "first_reply")
            assert (first["outcome"], first["latency_seconds"]) == ("met", 240.0)
            await advance(client, 30)
        events = await sla_events(infrastructure, responder_settings, expect=4, within=5)
        assert [kind for kind, _, _ in events] == ["started", "met"]
        replies = await read_topic(
            infrastructure.bootstrap_servers, responder_settings.topic(REPLIES), expect=1
        )
        assert decode(replies[0].headers, replies[0].value).data.text == "On its way!"

    async def test_a_snooze_pauses_the_clock_and_a_restart_keeps_every_deadline(
        self, responder_settings: ResponderSettings, producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        await producer.publish(message("snoozer", 0))
        async with running(create_app(responder_settings)) as client:
            found = await opened(client, "snoozer")
            await advance(client, 2)
            snoozed = await client.post(
                f"/v1/conversations/{found['id']}/snooze", headers=AGENT,
                json={"until": (T0 + timedelta(minutes=62)).isoformat()},
            )  # fmt: skip
            assert snoozed.status_code == 204, snoozed.text
        restarted = ResponderSettings(
            **{**responder_settings.model_dump(), "simulated_start": T0 + timedelta(minutes=2)}
        )
        async with running(create_app(restarted)) as client:
            await advance(client, 60)  # the snooze ends: 8 minutes were left
            running_first = await eventually(lambda: _running_first(client, "snoozer"))
            assert running_first is not None
            assert running_first["deadline"] == "2026-03-02T10:10:00Z"
            await advance(client, 8)
            await eventually(lambda: _flag(client, "snoozer", "breached"))
        events = await sla_events(infrastructure, responder_settings, expect=99, within=3)
        kinds = [kind for kind, data, _ in events if data.target == "first_reply"]
        assert kinds == ["started", "paused", "resumed", "warning", "breached"]

    async def test_a_kols_message_gets_the_five_minute_policy(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        kol = ProfileUpdated(
            fan_key="weibo:brand:star", interaction_count=3, first_seen_at=T0, last_seen_at=T0,
            role="kol", tier="frequent", priority=80,
        )  # fmt: skip
        await producer.publish(CloudEvent.of(kol, id="p1", source="test", subject=kol.fan_key))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: _kept_standing(responder_settings, kol.fan_key))
            await producer.publish(message("star", 0))
            found = await opened(client, "star")
        first = next(c for c in found["clocks"] if c["target"] == "first_reply")
        assert (first["policy_id"], first["deadline"]) == ("kols", "2026-03-02T09:05:00Z")


class TestDeliveryReports:
    async def test_a_reply_never_delivered_does_not_answer_and_flags_the_conversation(
        self, responder_settings: ResponderSettings, producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        await producer.publish(message("unlucky", 0))
        async with running(create_app(responder_settings)) as client:
            found = await opened(client, "unlucky")
            await advance(client, 3)
            answered = await client.post(
                f"/v1/conversations/{found['id']}/replies", headers=AGENT,
                json={"text": "Sorry!", "reply_id": "r-lost"},
            )  # fmt: skip
            assert answered.status_code == 202
            failed = ReplyFailed(
                platform="weibo", account="brand", user_id="unlucky", reply_id="r-lost",
                occurred_at=T0 + timedelta(minutes=3), status_code=403, error="blocked by user",
            )  # fmt: skip
            await producer.publish(
                CloudEvent.of(failed, id="f-1", source="test", subject=failed.fan_key)
            )
            flagged = await eventually(lambda: _flagged(client, "unlucky"))
            assert flagged is not None
            first = next(c for c in flagged["clocks"] if c["target"] == "first_reply")
            assert (first["ended_at"], first["deadline"]) == (None, "2026-03-02T09:10:00Z")
            reply = next(m for m in flagged["messages"] if m["direction"] == "out")
            assert (reply["delivery"], reply["delivery_error"]) == ("failed", "blocked by user")
            await advance(client, 8)
            await eventually(lambda: _flag(client, "unlucky", "breached"))
        events = await sla_events(infrastructure, responder_settings, expect=5)
        assert [(kind, getattr(data, "reason", None)) for kind, data, _ in events] == [
            ("started", "message"),
            ("met", None),
            ("started", "reply_failed"),
            ("warning", None),
            ("breached", None),
        ]


async def _flagged(client: httpx.AsyncClient, user: str) -> dict[str, Any] | None:
    found = await conversation_of(client, user)
    return found if found and found["delivery_failed"] else None


class TestStandingsFromScoring:
    async def test_a_fan_found_to_be_a_kol_after_writing_gets_the_kol_targets(
        self, responder_settings: ResponderSettings, producer: EventProducer,
        infrastructure: Infrastructure,
    ) -> None:  # fmt: skip
        await producer.publish(message("rising", 1))
        async with running(create_app(responder_settings)) as client:
            found = await opened(client, "rising")
            assert found["clocks"][-1]["deadline"] == "2026-03-02T09:11:00Z"
            kol = ProfileUpdated(
                fan_key="weibo:brand:rising", interaction_count=1, first_seen_at=T0,
                last_seen_at=T0, role="kol", tier="occasional", priority=70,
            )  # fmt: skip
            await producer.publish(
                CloudEvent.of(kol, id="p-rising", source="test", subject=kol.fan_key)
            )
            retargeted = await eventually(lambda: _first_with_policy(client, "rising", "kols"))
            assert retargeted is not None
            assert retargeted["deadline"] == "2026-03-02T09:06:00Z", "5 minutes from the message"
        events = await sla_events(infrastructure, responder_settings, expect=2)
        assert [(kind, data.reason) for kind, data, _ in events] == [
            ("started", "message"),
            ("started", "policy_changed"),
        ]


async def _first_with_policy(
    client: httpx.AsyncClient, user: str, policy: str
) -> dict[str, Any] | None:
    found = await conversation_of(client, user) or {"clocks": []}
    return next((c for c in found["clocks"]
                 if c["target"] == "first_reply" and c["policy_id"] == policy), None)  # fmt: skip


async def _flag(client: httpx.AsyncClient, user: str, flag: str) -> bool:
    found = await conversation_of(client, user) or {"clocks": []}
    return any(c[flag] for c in found["clocks"] if c["target"] == "first_reply")


async def _running_first(client: httpx.AsyncClient, user: str) -> dict[str, Any] | None:
    found = await conversation_of(client, user)
    clocks = [c for c in (found or {}).get("clocks", []) if c["target"] == "first_reply"]
    return clocks[0] if clocks and clocks[0]["deadline"] else None


async def _kept_standing(settings: ResponderSettings, fan_key: str) -> bool:
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=2)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM responder.fan_standings WHERE fan_key = :k"),
                {"k": fan_key},
            )
    finally:
        await engine.dispose()
    return bool(found)
