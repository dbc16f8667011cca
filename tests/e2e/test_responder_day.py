"""A scripted day at a Shanghai service desk, end to end on a simulated clock: policies with
business hours installed through the admin API, fans' messages on the events topic with their
event times, agents' replies, snoozes, resolutions and a reopening through the conversations
API, the clock moved through the admin API, and responder restarted in the evening. Every
deadline and latency below is worked out by hand from the desk's hours; `scrm.sla.v1` must tell
each clock's events exactly so, each once, and the database must agree.

The desk (Asia/Shanghai, UTC+8 all year): Mon-Fri 09:00-12:00 and 13:30-18:00; Friday
2026-05-01 (Labour Day) is a holiday, so Thursday 18:00 is followed by Monday 09:00.

The policies, in order (warnings 20 % of a target ahead unless a policy says otherwise):

| policy     | matched by             | first reply | next reply | resolution | warning   |
|------------|------------------------|-------------|------------|------------|-----------|
| kols       | role kol (scoring)     | 5 min       | 5 min      | -          | 1 min     |
| complaints | keyword "complaint"    | 5 min       | 5 min      | -          | 1 min     |
| flagship   | account "flagship"     | 30 min      | 20 min     | 2 h        | 20 %      |
| standard   | anything               | 30 min      | 20 min     | -          | 20 %      |
"""

import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.responder.config import ResponderSettings
from services.responder.main import create_app
from shared.contracts import MessageReceived, ProfileUpdated
from shared.db import create_engine
from shared.events import CloudEvent, decode
from shared.kafka import EventProducer
from shared.topics import SLA
from tests.conftest import Infrastructure
from tests.helpers import eventually, read_topic, running

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")
AGENT = {"Authorization": "Bearer agent-secret"}
ADMIN = {"Authorization": "Bearer admin-secret"}


def wed(hhmm: str) -> datetime:
    return _local(date(2026, 4, 29), hhmm)


def thu(hhmm: str) -> datetime:
    return _local(date(2026, 4, 30), hhmm)


def mon(hhmm: str) -> datetime:
    return _local(date(2026, 5, 4), hhmm)


def _local(day: date, hhmm: str) -> datetime:
    """A wall time at the desk, as the UTC instant the events carry."""
    return datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI).astimezone(UTC)


WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOURS = {
    "time_zone": "Asia/Shanghai",
    "intervals": {day: ["09:00-12:00", "13:30-18:00"] for day in WORKDAYS},
    "holidays": ["2026-05-01"],
}
POLICIES = [
    {"id": "kols", "name": "KOLs", "conditions": {"roles": ["kol"]}, "first_reply_seconds": 300,
     "next_reply_seconds": 300, "warning_before_seconds": 60, "business_hours": HOURS},
    {"id": "complaints", "name": "Complaints", "conditions": {"keywords": ["complaint"]},
     "first_reply_seconds": 300, "next_reply_seconds": 300, "warning_before_seconds": 60,
     "business_hours": HOURS},
    {"id": "flagship", "name": "Flagship store", "conditions": {"accounts": ["flagship"]},
     "first_reply_seconds": 1800, "next_reply_seconds": 1200, "resolution_seconds": 7200,
     "business_hours": HOURS},
    {"id": "standard", "name": "Everyone else", "first_reply_seconds": 1800,
     "next_reply_seconds": 1200, "business_hours": HOURS},
]  # fmt: skip

# A clock is named by its fan, its target and when it started; its events by what they say.
ClockName = tuple[str, str, datetime]
EXPECTED_EVENTS: dict[ClockName, list[tuple[Any, ...]]] = {
    # night-owl writes on Wednesday at 22:10, after hours: the clock runs from Thursday's
    # opening, 09:00 + 30 min = 09:30 (warning at 24 min, 09:24). Answered at 09:12: 12 min.
    ("night-owl", "first_reply", wed("22:10")): [
        ("started", thu("09:30"), "message"),
        ("met", thu("09:30"), thu("09:12"), 12 * 60.0),
    ],
    # night-owl writes again at 11:50: a next reply of 20 min, 10 before lunch and 10 after
    # it, due 13:40 (warning at 16 min: 13:36). Answered at 13:35: 10 + 5 = 15 min.
    ("night-owl", "next_reply", thu("11:50")): [
        ("started", thu("13:40"), "message"),
        ("met", thu("13:40"), thu("13:35"), 15 * 60.0),
    ],
    # creator is a KOL (scoring said so): 5 min from 10:00, warned 10:04, breached 10:05.
    # The reply at 10:07 is late (7 min): its breach was told, a late reply tells nothing more.
    ("creator", "first_reply", thu("10:00")): [
        ("started", thu("10:05"), "message"),
        ("warning", thu("10:05")),
        ("breached", thu("10:05")),
    ],
    # angry complains at 10:20: 5 min, due 10:25; answered at 10:23, 3 min.
    ("angry", "first_reply", thu("10:20")): [
        ("started", thu("10:25"), "message"),
        ("met", thu("10:25"), thu("10:23"), 3 * 60.0),
    ],
    # shopper writes to the flagship store at 09:40: first reply due 10:10, resolution
    # (2 h) due 11:40. Snoozed 09:50-10:30, both clocks stop for those 40 min (2400 s):
    # the first reply is due 10:50 (warning at 24 + 40 min from 09:40: 10:44), answered at
    # 10:45 after 10 + 15 = 25 min of running.
    ("shopper", "first_reply", thu("09:40")): [
        ("started", thu("10:10"), "message"),
        ("paused", thu("10:10"), thu("09:50"), "snoozed"),
        ("resumed", thu("10:50"), thu("10:30"), 2400.0),
        ("warning", thu("10:50")),
        ("met", thu("10:50"), thu("10:45"), 25 * 60.0),
    ],
    # The resolution clock, 2 h + 40 min paused from 09:40: 2 h 20 min to noon, the last
    # 20 min after lunch, due 13:50. The reply at 10:45 pauses it (waiting on the fan); the
    # resolution at 11:00 meets it after 25 min of running.
    ("shopper", "resolution", thu("09:40")): [
        ("started", thu("11:40"), "message"),
        ("paused", thu("11:40"), thu("09:50"), "snoozed"),
        ("resumed", thu("13:50"), thu("10:30"), 2400.0),
        ("paused", thu("13:50"), thu("10:45"), "waiting_on_fan"),
        ("met", thu("13:50"), thu("11:00"), 25 * 60.0),
    ],
    # An agent reopens it at 14:00: a new resolution clock, due 16:00 (warning at 1 h 36 min,
    # 15:36); resolved at 15:40, after 1 h 40 min.
    ("shopper", "resolution", thu("14:00")): [
        ("started", thu("16:00"), "reopened"),
        ("warning", thu("16:00")),
        ("met", thu("16:00"), thu("15:40"), 100 * 60.0),
    ],
    # closing-time writes at 17:40: 20 min on Thursday, Friday a holiday, the weekend closed,
    # the last 10 min on Monday: due Monday 09:10 (warning 09:04). Answered, after responder
    # restarted, at Monday 09:03: 20 + 3 = 23 min.
    ("closing-time", "first_reply", thu("17:40")): [
        ("started", mon("09:10"), "message"),
        ("met", mon("09:10"), mon("09:03"), 23 * 60.0),
    ],
    # late-evening writes at 17:50: 10 min on Thursday, 20 on Monday, due 09:20 (warning
    # 09:14); nobody answers, the restarted responder warns and breaches.
    ("late-evening", "first_reply", thu("17:50")): [
        ("started", mon("09:20"), "message"),
        ("warning", mon("09:20")),
        ("breached", mon("09:20")),
    ],
}
# How each clock stands in the database at the end: outcome, latency, warned, breached.
EXPECTED_CLOCKS: dict[ClockName, tuple[str | None, float | None, bool, bool]] = {
    ("night-owl", "first_reply", wed("22:10")): ("met", 720.0, False, False),
    ("night-owl", "next_reply", thu("11:50")): ("met", 900.0, False, False),
    ("creator", "first_reply", thu("10:00")): ("late", 420.0, True, True),
    ("angry", "first_reply", thu("10:20")): ("met", 180.0, False, False),
    ("shopper", "first_reply", thu("09:40")): ("met", 1500.0, True, False),
    ("shopper", "resolution", thu("09:40")): ("met", 1500.0, False, False),
    ("shopper", "resolution", thu("14:00")): ("met", 6000.0, True, False),
    ("closing-time", "first_reply", thu("17:40")): ("met", 1380.0, False, False),
    ("late-evening", "first_reply", thu("17:50")): (None, None, True, True),
}

MESSAGES_KEPT = "SELECT count(*) FROM responder.conversation_messages WHERE ref = :k"
STANDINGS_KEPT = "SELECT count(*) FROM responder.fan_standings WHERE fan_key = :k"


class Desk:
    """The desk as the test drives it: fans write on the events topic, agents and the admin
    act over HTTP, and every step waits until responder has taken it in, the timers due by
    then included, so the next step finds the day as the script says."""

    def __init__(self, producer: EventProducer, engine: AsyncEngine) -> None:
        self.producer, self.engine = producer, engine
        self.client: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        assert self.client is not None, "responder is not running"
        return self.client

    async def clock_at(self, at: datetime) -> None:
        moved = await self.http.put("/v1/admin/clock", json={"now": at.isoformat()}, headers=ADMIN)
        assert moved.status_code == 200, moved.text
        await eventually(lambda: self._timers_caught_up(at))

    async def fan_writes(self, user: str, at: datetime, words: str, account: str = "brand") -> None:
        data = MessageReceived(
            platform="weibo", account=account, user_id=user, message_id=uuid.uuid4().hex,
            occurred_at=at, text=words,
        )  # fmt: skip
        event = CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=data.fan_key)
        await self.producer.publish(event)
        await eventually(lambda: self._count(MESSAGES_KEPT, event.id))

    async def fan_is_a_kol(self, user: str) -> None:
        fan_key = f"weibo:brand:{user}"
        kol = ProfileUpdated(
            fan_key=fan_key, interaction_count=40, first_seen_at=wed("10:00"),
            last_seen_at=wed("10:00"), role="kol", tier="frequent", priority=80,
        )  # fmt: skip
        await self.producer.publish(CloudEvent.of(kol, id="kol", source="test", subject=fan_key))
        await eventually(lambda: self._count(STANDINGS_KEPT, fan_key))

    async def agent(self, action: str, user: str, **body: Any) -> None:
        conversation = await self._conversation_of(user)
        done = await self.http.post(
            f"/v1/conversations/{conversation}/{action}", json=body or None, headers=AGENT
        )
        assert done.status_code in (202, 204), done.text

    async def reply(self, user: str) -> None:
        await self.agent("replies", user, text="Thanks for writing, here is the answer.")

    async def _conversation_of(self, user: str) -> str:
        async with self.engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT id FROM responder.conversations WHERE fan_key LIKE :k"),
                {"k": f"weibo:%:{user}"},
            )
        assert found is not None, f"no conversation of {user}"
        return str(found)

    async def _count(self, query: str, key: str) -> int:
        async with self.engine.connect() as connection:
            found = await connection.scalar(text(query), {"k": key})
        return int(found or 0)

    async def _timers_caught_up(self, now: datetime) -> bool:
        """No warning, deadline or snooze end at or before `now` is left unfired."""
        async with self.engine.connect() as connection:
            left = await connection.scalar(
                text("""
                    SELECT (SELECT count(*) FROM responder.sla_clocks WHERE ended_at IS NULL
                              AND ((NOT breached AND deadline <= :now)
                                   OR (NOT warned AND warning_at <= :now)))
                         + (SELECT count(*) FROM responder.conversations
                             WHERE status = 'snoozed' AND snoozed_until <= :now)
                """),
                {"now": now},
            )
        return int(left or 0) == 0


@pytest.fixture
def day_settings(settings_for: Callable[..., Any]) -> ResponderSettings:
    settings: ResponderSettings = settings_for(
        ResponderSettings, clock="simulated", simulated_start=thu("08:00"),
        agent_token="agent-secret", admin_token="admin-secret", timer_scan_seconds=0.2,
    )  # fmt: skip
    return settings


@pytest.fixture
async def desk(day_settings: ResponderSettings) -> AsyncIterator[Desk]:
    producer = EventProducer(day_settings)
    await producer.start()
    engine = create_engine(day_settings.database_url.get_secret_value(), pool_size=4)
    try:
        yield Desk(producer, engine)
    finally:
        await producer.stop()
        await engine.dispose()


def restarted_at(settings: ResponderSettings, at: datetime) -> ResponderSettings:
    return ResponderSettings(**{**settings.model_dump(), "simulated_start": at})


class TestADayAtTheDesk:
    async def test_every_clock_is_told_as_worked_out_by_hand_once(
        self, day_settings: ResponderSettings, desk: Desk, infrastructure: Infrastructure
    ) -> None:
        async with running(create_app(day_settings)) as desk.client:
            await thursday(desk)
        async with running(create_app(restarted_at(day_settings, thu("17:55")))) as desk.client:
            await monday(desk)

        records = await read_topic(
            infrastructure.bootstrap_servers, day_settings.topic(SLA),
            expect=sum(map(len, EXPECTED_EVENTS.values())) + 1, within=3,
        )  # fmt: skip
        events = [decode(record.headers, record.value) for record in records]
        assert [n for n in Counter(e.id for e in events).values() if n > 1] == []
        told = told_by_clock(events)
        assert told.keys() == EXPECTED_EVENTS.keys()
        for clock, expected in EXPECTED_EVENTS.items():
            assert told[clock] == expected, clock
        assert await clocks_stored(desk.engine) == EXPECTED_CLOCKS


async def thursday(desk: Desk) -> None:
    """Thursday 08:00 to 17:55, in the order things happen."""
    install = await desk.http.put("/v1/admin/sla-policies", json={"policies": POLICIES},
                                  headers=ADMIN)  # fmt: skip
    assert install.status_code == 200, install.text
    await desk.fan_is_a_kol("creator")
    await desk.fan_writes("night-owl", wed("22:10"), "Are you open tomorrow?")
    await desk.clock_at(thu("09:12"))
    await desk.reply("night-owl")
    await desk.clock_at(thu("09:40"))
    await desk.fan_writes("shopper", thu("09:40"), "Is the blue one in stock?", "flagship")
    await desk.clock_at(thu("09:50"))
    await desk.agent("snooze", "shopper", until=thu("10:30").isoformat())
    await desk.clock_at(thu("10:00"))
    await desk.fan_writes("creator", thu("10:00"), "Shall we work together?")
    await desk.clock_at(thu("10:07"))  # creator's warning and breach pass
    await desk.reply("creator")
    await desk.clock_at(thu("10:20"))
    await desk.fan_writes("angry", thu("10:20"), "I want to file a complaint")
    await desk.clock_at(thu("10:23"))
    await desk.reply("angry")
    await desk.clock_at(thu("10:45"))  # shopper's snooze ends at 10:30, the warning at 10:44
    await desk.reply("shopper")
    await desk.clock_at(thu("11:00"))
    await desk.agent("resolve", "shopper")
    await desk.clock_at(thu("11:50"))
    await desk.fan_writes("night-owl", thu("11:50"), "One more question")
    await desk.clock_at(thu("13:35"))  # through lunch
    await desk.reply("night-owl")
    await desk.clock_at(thu("14:00"))
    await desk.agent("reopen", "shopper")
    await desk.clock_at(thu("15:40"))  # the reopened resolution's warning at 15:36
    await desk.agent("resolve", "shopper")
    await desk.clock_at(thu("17:40"))
    await desk.fan_writes("closing-time", thu("17:40"), "Still there?")
    await desk.clock_at(thu("17:50"))
    await desk.fan_writes("late-evening", thu("17:50"), "Hello?")
    await desk.clock_at(thu("17:55"))


async def monday(desk: Desk) -> None:
    """After the restart: over the holiday and the weekend to Monday morning."""
    await desk.clock_at(mon("09:03"))
    await desk.reply("closing-time")
    await desk.clock_at(mon("09:20"))  # late-evening's warning at 09:14 and breach at 09:20


def told_by_clock(events: list[CloudEvent[Any]]) -> dict[ClockName, list[tuple[Any, ...]]]:
    """Each clock's events in the order told, named by the clock's start."""
    started = {e.data.clock_id: e.data for e in events if e.type == "scrm.sla.started.v1"}
    told: dict[ClockName, list[tuple[Any, ...]]] = defaultdict(list)
    for event in events:
        start = started[event.data.clock_id]
        user = start.fan_key.rsplit(":", 1)[1]
        told[user, start.target, start.started_at].append(described(event))
    return dict(told)


def described(event: CloudEvent[Any]) -> tuple[Any, ...]:
    """What an event says: its kind and deadline, and what it says besides."""
    kind, data = event.type.split(".")[2], event.data
    match kind:
        case "started":
            return kind, data.deadline, data.reason
        case "met":
            return kind, data.deadline, data.met_at, data.latency_seconds
        case "paused":
            return kind, data.deadline, data.paused_at, data.reason
        case "resumed":
            return kind, data.deadline, data.resumed_at, data.paused_seconds
    return kind, data.deadline


async def clocks_stored(
    engine: AsyncEngine,
) -> dict[ClockName, tuple[str | None, float | None, bool, bool]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("""
                SELECT c.fan_key, k.target, k.started_at, k.outcome, k.latency_seconds,
                       k.warned, k.breached
                  FROM responder.sla_clocks k JOIN responder.conversations c
                    ON c.id = k.conversation_id
            """)
        )
        return {
            (fan_key.rsplit(":", 1)[1], target, started_at): (outcome, latency, warned, breached)
            for fan_key, target, started_at, outcome, latency, warned, breached in rows
        }
