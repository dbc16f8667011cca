"""Scoring's rules. Takes the session first; flushes, never commits."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import metrics, repository
from services.scoring.domain import profile_snapshot
from services.scoring.models import FanProfile
from shared.contracts import FanEvent
from shared.db import after_commit
from shared.events import CloudEvent, event_id
from shared.outbox import Outbox

SOURCE = "scrm/scoring"


async def record_interaction(
    session: AsyncSession, event: CloudEvent[FanEvent], *, outbox: Outbox
) -> FanProfile:
    data = event.data
    profile, created = await repository.add_interaction(
        session,
        fan_key=data.fan_key,
        platform=data.platform,
        account=data.account,
        occurred_at=data.occurred_at,
    )
    if created:
        after_commit(session, metrics.PROFILES_CREATED.inc)
        snapshot = CloudEvent.of(
            profile_snapshot(profile),
            id=event_id(SOURCE, "profile", event.id),
            source=SOURCE,
            subject=profile.fan_key,
        )
        await outbox.add(session, snapshot)
    return profile


async def get_profile(session: AsyncSession, fan_key: str) -> FanProfile | None:
    return await repository.get_profile(session, fan_key)
