"""The routing queue through the agent API, claims only (pull routing; offers are
test_responder_offers.py): agents added by an admin, their presence, claims in the queue's
order (deadline brought forward by the fan's priority), capacity and skills, the team's work,
transfers, and no conversation held by two agents however many claim at once."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.contracts import MessageReceived, ProfileUpdated
from shared.db import create_engine
from shared.events import CloudEvent
from shared.kafka import EventProducer
from tests.helpers import eventually, metric_value, running

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture
def responder_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=T0, admin_token="admin-secret",
        timer_scan_seconds=0.2, heartbeat_timeout_seconds=30, push_routing=False,
    )  # fmt: skip
    return settings


@pytest.fixture
async def producer(responder_settings: ResponderSettings) -> Any:
    producer = EventProducer(responder_settings)
    await producer.start()
    yield producer
    await producer.stop()


def message(
    user: str, minutes: float, platform: str = "weibo", *, start: datetime = T0
) -> CloudEvent[Any]:
    data = MessageReceived(
        platform=platform, account="brand", user_id=user, message_id=uuid.uuid4().hex,
        occurred_at=start + timedelta(minutes=minutes), text="hello",
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


def standing(user: str, priority: int) -> CloudEvent[Any]:
    data = ProfileUpdated(
        fan_key=f"weibo:brand:{user}", interaction_count=1, first_seen_at=T0, last_seen_at=T0,
        priority=priority,
    )  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)


async def agent(client: httpx.AsyncClient, agent_id: str, **fields: Any) -> dict[str, str]:
    """Add an agent, set them online; their authorisation header."""
    added = await client.post("/v1/admin/agents", headers=ADMIN, json={"id": agent_id,
                              "name": agent_id.title(), **fields})  # fmt: skip
    assert added.status_code == 201, added.text
    auth = {"Authorization": f"Bearer {added.json()['token']}"}
    online = await client.post("/v1/agent/heartbeat", headers=auth, json={"presence": "online"})
    assert online.status_code == 200, online.text
    return auth


async def waiting(client: httpx.AsyncClient, count: int) -> bool:
    return len((await client.get("/v1/conversations", params={"limit": 500})).json()) >= count


async def priority_of(client: httpx.AsyncClient, fan_key: str, priority: int) -> bool:
    listed = (await client.get("/v1/conversations", params={"limit": 500})).json()
    return any(c["fan_key"] == fan_key and c["priority"] == priority for c in listed)


async def _equal(found: Any, expected: Any) -> bool:
    return bool(await found == expected)


async def claim(client: httpx.AsyncClient, auth: dict[str, str]) -> str | None:
    claimed = await client.post("/v1/agent/claim-next", headers=auth)
    assert claimed.status_code in (200, 204), claimed.text
    return claimed.json()["fan_key"].rsplit(":", 1)[1] if claimed.status_code == 200 else None


class TestClaims:
    async def test_the_earliest_deadline_comes_first_brought_forward_by_priority(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(standing("b", 60))
        for user, minutes in (("a", 0), ("b", 2), ("c", 1)):
            await producer.publish(message(user, minutes))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 3))
            # the standing comes on its own topic: applied while claims run, it holds b's row
            await eventually(lambda: priority_of(client, "weibo:brand:b", 60))
            mei = await agent(client, "mei")
            # Deadlines 10, 12 and 11 minutes; b's priority 60 brings it 3 minutes forward.
            assert [await claim(client, mei) for _ in range(4)] == ["b", "a", "c", None]

    async def test_capacity_platforms_and_vips_limit_what_an_agent_takes(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(standing("vip", 95))
        for user in ("vip", "w1", "w2"):
            await producer.publish(message(user, 0))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 3))
            # the standing comes on its own topic: a VIP only once it is applied
            await eventually(lambda: priority_of(client, "weibo:brand:vip", 95))
            wechat_only = await agent(client, "wen", platforms=["wechat"])
            assert await claim(client, wechat_only) is None
            one_weibo = await agent(client, "ying", capacity={"weibo": 1})
            assert await claim(client, one_weibo) in ("w1", "w2")
            assert await claim(client, one_weibo) is None, "no room left"
            vip_handler = await agent(client, "vera", vip=True)
            assert await claim(client, vip_handler) == "vip"
            away = await client.post(
                "/v1/agent/heartbeat", headers=vip_handler, json={"presence": "away"}
            )
            assert away.status_code == 200
            refused = await client.post("/v1/agent/claim-next", headers=vip_handler)
            assert refused.status_code == 409

    async def test_agents_claiming_at_once_never_hold_one_conversation_twice(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        for n in range(40):
            await producer.publish(message(f"f{n}", n / 10))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 40))
            agents = [await agent(client, f"a{n}", capacity={"*": 6}) for n in range(8)]

            async def claim_until_empty(auth: dict[str, str]) -> list[str]:
                taken = []
                while (user := await claim(client, auth)) is not None:
                    taken.append(user)
                return taken

            claims = await asyncio.gather(*(claim_until_empty(auth) for auth in agents))
        every = [user for taken in claims for user in taken]
        assert sorted(every) == sorted(f"f{n}" for n in range(40)), "each once, none left"
        assert max(len(taken) for taken in claims) <= 6
        held = await _assignees(responder_settings)
        assert len(held) == 40
        assert max(Counter(held.values()).values()) <= 6


class TestTeamsAndPresence:
    async def test_teams_have_gauges_of_their_own_up_to_a_bound(
        self, settings_for: Callable[..., Any], producer: EventProducer
    ) -> None:
        counted = settings_for(
            ResponderSettings, admin_token="admin-secret", push_routing=False,
            gauges_refresh_seconds=0.2, metric_teams=1,
        )  # fmt: skip
        # on the wall clock, a message of now: no SLA timer fires (and locks it) mid-test
        await producer.publish(message("g1", 0, start=datetime.now(UTC)))
        async with running(create_app(counted)) as client:
            await eventually(lambda: waiting(client, 1))
            for team in ("north", "south"):
                await client.put(f"/v1/admin/teams/{team}", headers=ADMIN, json={"name": team})
            ann = await agent(client, "ann", team_id="north", capacity={"*": 3})
            await agent(client, "bo", team_id="north", capacity={"*": 1})
            await agent(client, "cy", team_id="south")
            await agent(client, "dee")
            assert await claim(client, ann) == "g1"

            async def gauges() -> dict[str, tuple[float, float]]:
                return {team: (await metric_value(client, "scrm_responder_team_agents_online",
                                                  team=team),
                               await metric_value(client, "scrm_responder_team_capacity_in_use",
                                                  team=team))
                        for team in ("north", "south", "other", "none")}  # fmt: skip

            expected = {"north": (2, 0.25), "south": (0, 0), "other": (1, 0), "none": (1, 0)}
            await eventually(lambda: _equal(gauges(), expected))

    async def test_an_agent_sees_their_own_and_their_teams_work_and_can_transfer_it(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        for minutes, user in enumerate(("t1", "t2")):
            await producer.publish(message(user, minutes))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 2))
            for team in ("north", "south"):
                await client.put(f"/v1/admin/teams/{team}", headers=ADMIN, json={"name": team})
            ann = await agent(client, "ann", team_id="north")
            bo = await agent(client, "bo", team_id="north")
            cy = await agent(client, "cy", team_id="south")
            assert await claim(client, ann) == "t1"
            mine = (await client.get("/v1/agent/conversations", headers=bo)).json()
            assert [c["fan_key"] for c in mine] == ["weibo:brand:t1"], "the team's work"
            assert (await client.get("/v1/agent/conversations", headers=cy)).json() == []
            moved = await client.post(
                f"/v1/agent/conversations/{mine[0]['id']}/transfer", headers=bo, json={"to": "cy"}
            )
            assert moved.status_code == 204, moved.text
            theirs = (await client.get("/v1/agent/conversations", headers=cy)).json()
            assert [c["fan_key"] for c in theirs] == ["weibo:brand:t1"]
            hidden = await client.post(
                f"/v1/agent/conversations/{mine[0]['id']}/transfer", headers=ann, json={"to": None}
            )
            assert hidden.status_code == 404, "another team's now"

    async def test_an_agent_gone_silent_goes_offline_and_their_work_back_to_the_queue(
        self, settings_for: Callable[..., Any], producer: EventProducer
    ) -> None:
        quick = settings_for(
            ResponderSettings, admin_token="admin-secret", heartbeat_timeout_seconds=4,
            push_routing=False,
        )  # fmt: skip
        await producer.publish(message("left", 0, start=datetime.now(UTC)))
        async with running(create_app(quick)) as client:
            await eventually(lambda: waiting(client, 1))
            dee = await agent(client, "dee")
            assert await claim(client, dee) == "left"
            await eventually(lambda: _offline(client, "dee"), within=30)
            queued = await client.get("/v1/agent/queue", headers=await agent(client, "eve"))
            assert [c["fan_key"] for c in queued.json()] == ["weibo:brand:left"]

    async def test_a_warning_unanswered_puts_the_conversation_back_in_the_queue(
        self, responder_settings: ResponderSettings, producer: EventProducer
    ) -> None:
        await producer.publish(message("slow", 0))
        async with running(create_app(responder_settings)) as client:
            await eventually(lambda: waiting(client, 1))
            hal = await agent(client, "hal")
            assert await claim(client, hal) == "slow"
            moved = await client.post(
                "/v1/admin/clock/advance", headers=ADMIN, json={"seconds": 8 * 60}
            )
            assert moved.status_code == 200
            await eventually(lambda: _queued(client, hal, "weibo:brand:slow"))
            mine = (await client.get("/v1/agent/conversations", headers=hal)).json()
            assert mine == []

    async def test_only_an_admin_adds_agents_and_a_token_is_shown_once(
        self, responder_settings: ResponderSettings
    ) -> None:
        async with running(create_app(responder_settings)) as client:
            fay = await agent(client, "fay")
            refused = await client.post(
                "/v1/admin/agents", headers=fay, json={"id": "gus", "name": "Gus"}
            )
            boss = await client.post(
                "/v1/admin/agents", headers=ADMIN, json={"id": "boss", "name": "B", "role": "admin"}
            )
            by_boss = await client.post(
                "/v1/admin/agents", headers={"Authorization": f"Bearer {boss.json()['token']}"},
                json={"id": "gus", "name": "Gus"},
            )  # fmt: skip
            again = await client.post(
                "/v1/admin/agents", headers=ADMIN, json={"id": "gus", "name": "Gus"}
            )
            listed = (await client.get("/v1/admin/agents", headers=ADMIN)).json()
            anonymous = await client.get("/v1/agent/me")
        assert (refused.status_code, by_boss.status_code, again.status_code) == (403, 201, 409)
        assert all("token" not in item for item in listed)
        assert anonymous.status_code == 401


async def _queued(client: httpx.AsyncClient, auth: dict[str, str], fan_key: str) -> bool:
    queued = (await client.get("/v1/agent/queue", headers=auth)).json()
    return [c["fan_key"] for c in queued] == [fan_key]


async def _offline(client: httpx.AsyncClient, agent_id: str) -> bool:
    agents = (await client.get("/v1/admin/agents", headers=ADMIN)).json()
    return any(a["id"] == agent_id and a["presence"] == "offline" for a in agents)


async def _assignees(settings: ResponderSettings) -> dict[str, str]:
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=2)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT id::text, assignee_id FROM responder.conversations "
                    "WHERE assignee_id IS NOT NULL"
                )
            )
            return {row[0]: row[1] for row in rows}
    finally:
        await engine.dispose()
