"""One scoring deployment as the end-to-end tests reach it from outside the service: its events
topic to publish on, and its tables to read, every profile scored again at one instant as the
refresher would score it. Two deployments fed the same events compare through these."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from services.scoring import handlers, standings
from services.scoring.config import ScoringSettings
from services.scoring.domain import ScoringModel
from services.scoring.models import BrandCutPoints, FanProfile, infrastructure
from services.scoring.repository import profile_row
from shared.db import create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent, encode
from shared.kafka import EventProducer
from shared.outbox import Outbox
from shared.topics import EVENTS

# What a fan's events alone decide, whatever the instant the profile is scored at.
STATE_COLUMNS = (
    "platform", "account", "state", "interaction_count", "first_seen_at", "last_seen_at",
    "first_active_at", "last_active_at", "engagement_numerator", "paid_orders", "monetary_cents",
)  # fmt: skip
PUBLISH_CHUNK = 200


def scored_ids(events: Sequence[CloudEvent[Any]]) -> set[str]:
    """The distinct ids of the events scoring applies (it skips the other types)."""
    return {item.id for item in events if type(item.data) in handlers.SCORED_TYPES}


class ScoringDeployment:
    """The topics and tables `settings` name, as a test publishes to and reads them."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
        self._producer: EventProducer | None = None

    async def dispose(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        await self.engine.dispose()

    async def publish(self, events: Sequence[CloudEvent[Any]]) -> None:
        """`events` on the events topic in this order (a fan's events share a partition, so
        they reach the service in this order too)."""
        if self._producer is None:
            self._producer = EventProducer(self.settings)
            await self._producer.start()
        topic = self.settings.topic(EVENTS)
        for start in range(0, len(events), PUBLISH_CHUNK):
            chunk = events[start : start + PUBLISH_CHUNK]
            await self._producer.send_many([(topic, encode(item)) for item in chunk])

    async def claimed(self, event_ids: Sequence[str] | None = None) -> int:
        """How many event ids (of these) the service's consumers claimed: it has applied them."""
        processed = infrastructure.processed_events
        query = select(func.count()).select_from(processed)
        if event_ids is not None:
            ids = bindparam("ids", list(event_ids), ARRAY(Text))
            query = query.where(processed.c.event_id == any_(ids))
        async with self.engine.connect() as connection:
            return int(await connection.scalar(query) or 0)

    async def profiles(self) -> dict[str, dict[str, Any]]:
        """Every stored profile by fan key, its columns but the time it was last written."""
        async with self.engine.connect() as connection:
            rows = (await connection.execute(select(FanProfile.__table__))).mappings()
            return {row["fan_key"]: {k: v for k, v in row.items() if k != "updated_at"}
                    for row in rows}  # fmt: skip

    async def cut_points(self) -> dict[tuple[str, str], dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = (await connection.execute(select(BrandCutPoints.__table__))).mappings()
            return {(row["platform"], row["account"]): dict(row) for row in rows}

    async def rescore(self, now: datetime) -> None:
        """What the refresher does at `now` (every brand's cut points and the tiers they give),
        then every profile scored at `now`."""
        model = ScoringModel.from_settings(self.settings)
        outbox = Outbox(self.settings, infrastructure)
        async with transaction(create_sessionmaker(self.engine)) as session:
            await standings.refresh_cut_points(session, model=model, outbox=outbox, now=now)
            rows = [profile_row(profile) for profile in await session.scalars(select(FanProfile))]
            await standings.rescore(session, rows, model=model, now=now)
