"""Push routing through the agent API: the queue's conversations offered to the best agent
available, accepted, declined (then offered to the next agent), or left to lapse (then the next
agent, and the agent who lets offers lapse set away); offers and claims never hand one
conversation to two agents."""

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.kafka import EventProducer
from stack.embedded import free_port
from tests.e2e.test_responder_routing import (
    ADMIN,
    T0,
    _assignees,
    agent,
    claim,
    message,
    priority_of,
    standing,
    waiting,
)
from tests.helpers import eventually, running, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def responder_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=T0, admin_token="admin-secret",
        timer_scan_seconds=0.2, heartbeat_timeout_seconds=3600, offer_interval_seconds=0.1,
        offer_seconds=60,
    )  # fmt: skip
    return settings


@pytest.fixture
async def producer(responder_settings: ResponderSettings) -> Any:
    producer = EventProducer(responder_settings)
    await producer.start()
    yield producer
    await producer.stop()


async def offer_to(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any] | None:
    offers = (await client.get("/v1/agent/offers", headers=auth)).json()
    return offers[0] if offers else None


async def an_offer(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    found = await eventually(lambda: offer_to(client, auth))
    assert found is not None
    return found


async def presence(client: httpx.AsyncClient, agent_id: str) -> str:
    agents = (await client.get("/v1/admin/agents", headers=ADMIN)).json()
    return str(next(a["presence"] for a in agents if a["id"] == agent_id))


class TestOffers:
    async def test_an_offer_accepted_makes_the_conversation_the_agents(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(message("fan", 0))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 1))
            ann = await agent(client, "ann")
            offer = await an_offer(client, ann)
            assert offer["conversation"]["fan_key"] == "weibo:brand:fan"
            taken = await client.post(f"/v1/agent/offers/{offer['id']}/accept", headers=ann)
            assert taken.status_code == 200, taken.text
            mine = (await client.get("/v1/agent/conversations", headers=ann)).json()
            assert [c["fan_key"] for c in mine] == ["weibo:brand:fan"]
            again = await client.post(f"/v1/agent/offers/{offer['id']}/accept", headers=ann)
            assert again.status_code == 409

    async def test_a_declined_offer_goes_to_the_next_agent_never_back(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(message("fan", 0))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 1))
            ann = await agent(client, "ann")
            first = await an_offer(client, ann)
            bo = await agent(client, "bo")
            declined = await client.post(f"/v1/agent/offers/{first['id']}/decline", headers=ann)
            assert declined.status_code == 204
            second = await an_offer(client, bo)
            assert second["conversation"]["id"] == first["conversation"]["id"]
            assert await offer_to(client, ann) is None

    async def test_an_offer_left_to_lapse_moves_on_and_its_agent_goes_away(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(message("one", 0))
        await producer.publish(message("two", 1))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 2))
            cy = await agent(client, "cy")
            first = await an_offer(client, cy)
            await client.post("/v1/admin/clock/advance", headers=ADMIN, json={"seconds": 61})
            second = await eventually(lambda: _another_offer(client, cy, first["id"]))
            assert second is not None
            assert second["conversation"]["id"] != first["conversation"]["id"]
            late = await client.post(f"/v1/agent/offers/{first['id']}/accept", headers=cy)
            assert late.status_code == 409
            await client.post("/v1/admin/clock/advance", headers=ADMIN, json={"seconds": 61})
            assert await eventually(lambda: _is(client, "cy", "away")) is True

    async def test_offers_and_claims_at_once_give_each_conversation_one_agent(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        for n in range(30):
            await producer.publish(message(f"f{n}", n / 10))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 30))
            agents = [await agent(client, f"a{n}", capacity={"*": 10}) for n in range(6)]

            async def work(auth: dict[str, str]) -> None:
                while True:
                    offer = await offer_to(client, auth)
                    if offer is not None:
                        await client.post(f"/v1/agent/offers/{offer['id']}/accept", headers=auth)
                    elif await claim(client, auth) is None and not await _queued(client, auth):
                        return

            await asyncio.wait_for(asyncio.gather(*(work(auth) for auth in agents)), 60)
        held = await _assignees(responder_settings)
        assert len(held) == 30, "every conversation has one agent"
        assert max(Counter(held.values()).values()) <= 10


async def _another_offer(
    client: httpx.AsyncClient, auth: dict[str, str], not_this: str
) -> dict[str, Any] | None:
    offer = await offer_to(client, auth)
    return offer if offer is not None and offer["id"] != not_this else None


async def _is(client: httpx.AsyncClient, agent_id: str, expected: str) -> bool:
    return await presence(client, agent_id) == expected


async def _queued(client: httpx.AsyncClient, auth: dict[str, str]) -> bool:
    """Conversations nobody holds yet (some perhaps on offer to another agent)."""
    return bool((await client.get("/v1/agent/queue", headers=auth)).json())


class TestTheConsolesView:
    async def test_the_view_and_its_events_show_offers_clocks_and_the_fans_standing(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(standing("vip", 70))
        await producer.publish(message("vip", 0))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 1))
            await eventually(lambda: priority_of(client, "weibo:brand:vip", 70))  # its own topic
            ann = await agent(client, "ann")
            offer = await an_offer(client, ann)
            seen = (await client.get("/v1/agent/view", headers=ann)).json()
            assert seen["now"] == "2026-03-02T09:00:00+00:00"
            offered = seen["offers"][0]["conversation"]
            assert offered["clock"]["deadline"] == "2026-03-02T09:10:00+00:00"
            assert offered["fan"]["priority"] == 70
            taken = await client.post(f"/v1/agent/offers/{offer['id']}/accept", headers=ann)
            detail = (
                await client.get(f"/v1/agent/conversations/{taken.json()['id']}", headers=ann)
            ).json()
            assert (detail["fan"]["priority"], len(detail["messages"])) == (70, 1)
            answered = await client.post(
                f"/v1/agent/conversations/{detail['id']}/replies", headers=ann,
                json={"text": "Hello!"},
            )  # fmt: skip
            assert answered.status_code == 202, answered.text
            after = (await client.get("/v1/agent/view", headers=ann)).json()
            assert after["conversations"][0]["clock"]["outcome"] == "met"

    async def test_the_events_stream_sends_a_snapshot_at_once_and_another_on_a_change(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        served = ResponderSettings(**{**responder_settings.model_dump(), "http_port": free_port()})
        await producer.publish(message("fan", 0))
        async with (
            serving(create_app(served), served) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
        ):
            await eventually(lambda: waiting(client, 1))
            ann = await agent(client, "ann", capacity={"*": 1})
            async with client.stream("GET", "/v1/agent/events", headers=ann) as stream:
                lines = stream.aiter_lines()
                first = await _next_snapshot(lines)
                if not first["offers"]:  # the offer came after the first look
                    first = await _next_snapshot(lines)
                offer = first["offers"][0]
                assert offer["conversation"]["fan_key"] == "weibo:brand:fan"
                await client.post(f"/v1/agent/offers/{offer['id']}/accept", headers=ann)
                accepted = await _next_snapshot(lines)
                assert accepted["offers"] == []
                assert [c["fan_key"] for c in accepted["conversations"]] == ["weibo:brand:fan"]


async def _next_snapshot(lines: Any) -> dict[str, Any]:
    async for line in lines:
        if line.startswith("data: "):
            found: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return found
    raise AssertionError("the stream ended")
