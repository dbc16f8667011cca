"""The group commit claims, produces and commits: an event repeated within one push, or pushed
again later, is produced once."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingest.config import IngestSettings
from services.ingest.group_commit import GroupCommitter
from shared.contracts import FanFollowed, topic_of
from shared.events import CloudEvent, event_id
from shared.kafka import EventProducer
from shared.topics import EVENTS
from tests.conftest import Infrastructure
from tests.helpers import read_topic

pytestmark = pytest.mark.integration


def followed(user: str) -> CloudEvent[FanFollowed]:
    data = FanFollowed(platform="line", account="oa", user_id=user, occurred_at=datetime.now(UTC))
    return CloudEvent.of(data, id=event_id("line", "oa", data.event_type, user),
                         source="scrm/ingest/line/oa", subject=data.fan_key)  # fmt: skip


async def test_an_event_twice_in_one_push_or_pushed_again_is_produced_once(
    settings_for: Callable[..., Any], infrastructure: Infrastructure
) -> None:
    settings: IngestSettings = settings_for(IngestSettings)
    producer = EventProducer(settings)
    await producer.start()
    committer = GroupCommitter(
        database_url=settings.database_url.get_secret_value(), producer=producer,
        topic_for=lambda e: settings.topic(topic_of(e.data)), max_in_flight=2,
    )  # fmt: skip
    await committer.start()
    try:
        twice, other = followed("u1"), followed("u2")
        assert await committer.submit("line", "oa", [twice, twice, other]) == {twice.id, other.id}
        assert await committer.submit("line", "oa", [twice]) == set()
    finally:
        await committer.stop()
        await producer.stop()
    records = await read_topic(
        infrastructure.bootstrap_servers, settings.topic(EVENTS), expect=3, within=3
    )
    assert sorted(dict(r.headers)["ce_id"].decode() for r in records) == sorted(
        [twice.id, other.id]
    )
