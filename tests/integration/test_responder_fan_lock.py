"""A fan's first message and scoring's new word on that fan, applied at the same moment by two
transactions (two partitions, two topics), do not miss each other: whichever commits second sees
the first, so the new conversation carries the fan's priority."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.responder import inbox, service
from services.responder.clocks import Deps
from services.responder.config import ResponderSettings
from services.responder.models import Conversation, infrastructure
from services.responder.policies import PolicyBook
from shared.contracts import MessageReceived, ProfileUpdated
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent
from shared.outbox import Outbox

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAN = "weibo:brand:star"


@pytest.fixture
async def responder(settings_for: Callable[..., Any]) -> AsyncIterator[tuple[Any, Deps]]:
    settings: ResponderSettings = settings_for(ResponderSettings)
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    deps = Deps(Outbox(settings, infrastructure), lambda timers: None, PolicyBook())
    yield create_sessionmaker(engine), deps
    await engine.dispose()


def first_message() -> CloudEvent[Any]:
    data = MessageReceived(platform="weibo", account="brand", user_id="star", message_id="m1",
                           occurred_at=T0, text="hello")  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=FAN)


def vip_standing() -> CloudEvent[ProfileUpdated]:
    data = ProfileUpdated(fan_key=FAN, interaction_count=9, first_seen_at=T0, last_seen_at=T0,
                          priority=95)  # fmt: skip
    return CloudEvent.of(data, id=uuid.uuid4().hex, source="test", subject=FAN, time=T0)


async def test_a_standing_and_a_first_message_at_once_both_count(
    responder: tuple[Any, Deps],
) -> None:
    sessionmaker, deps = responder
    standing_written, release = asyncio.Event(), asyncio.Event()

    async def standing() -> None:
        async with transaction(sessionmaker) as session:
            await service.standing_updated(session, vip_standing(), deps=deps)
            standing_written.set()
            await release.wait()  # committed only once the message is on its way

    async def message() -> None:
        await standing_written.wait()
        async with transaction(sessionmaker) as session:
            await inbox.receive_messages(session, [first_message()], deps=deps)

    held = asyncio.create_task(standing())
    applying = asyncio.create_task(message())
    await asyncio.sleep(0.5)
    assert not applying.done(), "the message waits for the standing being written"
    release.set()
    await asyncio.gather(held, applying)
    async with sessionmaker() as session:
        priority = await session.scalar(select(Conversation.priority))
    assert priority == 95
