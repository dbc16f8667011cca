"""Received-event claims are forgotten after the de-duplication window, in batches."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from services.ingest.config import IngestSettings
from services.ingest.models import ReceivedEvent
from services.ingest.retention import ReceivedEventsJanitor
from shared.db import create_engine, create_sessionmaker

pytestmark = pytest.mark.integration


async def test_claims_older_than_the_window_are_deleted_and_newer_ones_kept(
    settings_for: Callable[..., Any],
) -> None:
    settings: IngestSettings = settings_for(
        IngestSettings, dedupe_window_hours=24, dedupe_cleanup_batch=7
    )
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    now = datetime.now(UTC)
    try:
        async with sessionmaker() as session, session.begin():
            for n in range(40):
                age = timedelta(hours=25 if n < 30 else 23)
                await session.execute(
                    text(
                        "INSERT INTO ingest.received_events (event_id, platform, account, "
                        "received_at) VALUES (:id, 'line', 'a', :at)"
                    ),
                    {"id": f"e{n}", "at": now - age},
                )
        janitor = ReceivedEventsJanitor(settings, sessionmaker)
        assert await janitor.sweep(now=now) == 30
        assert await janitor.sweep(now=now) == 0
        async with sessionmaker() as session:
            left = await session.scalars(select(ReceivedEvent.event_id))
            assert sorted(left) == sorted(f"e{n}" for n in range(30, 40))
            assert await session.scalar(select(func.count()).select_from(ReceivedEvent)) == 10
    finally:
        await engine.dispose()
