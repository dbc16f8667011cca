"""Forgetting what no platform will retry any more: received-event claims older than the
de-duplication window, and signatures seen without their body once no timestamp they carry could
be fresh, are deleted in small batches, so each table stays the size of its window and no delete
holds locks for long."""

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.config import IngestSettings
from services.ingest.domain import signature_memory
from shared.db import transaction
from shared.logging import get_logger
from shared.periodic import PeriodicTask

log = get_logger(__name__)


class _Forget(Protocol):
    async def __call__(self, session: AsyncSession, cutoff: datetime, *, limit: int) -> int: ...


class ReceivedEventsJanitor(PeriodicTask):
    """Sweeps every `dedupe_cleanup_interval_seconds`; `stop()` ends a running sweep after its
    current batch, so a backlog does not hold up shutdown."""

    def __init__(
        self, settings: IngestSettings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        super().__init__(
            "received-events-janitor", settings.dedupe_cleanup_interval_seconds, self.sweep
        )
        self._window = timedelta(hours=settings.dedupe_window_hours)
        self._signatures_kept = signature_memory(
            timedelta(seconds=settings.webhook_tolerance_seconds)
        )
        self._batch = settings.dedupe_cleanup_batch
        self._sessionmaker = sessionmaker

    async def sweep(self, *, now: datetime | None = None) -> int:
        """Delete every claim older than the window, and every signature past its memory;
        returns how many claims."""
        now = now or datetime.now(UTC)
        claims = await self._forget(repository.forget_received_before, now - self._window)
        metrics.DEDUPE_FORGOTTEN.inc(claims)
        if claims:
            log.info("received-event claims past the window forgotten", count=claims)
        cutoff = now - self._signatures_kept
        if signatures := await self._forget(repository.forget_signatures_before, cutoff):
            log.info("seen signatures past their timestamps' window forgotten", count=signatures)
        return claims

    async def _forget(self, forget: _Forget, cutoff: datetime) -> int:
        total = 0
        while not self.stopping:
            async with transaction(self._sessionmaker) as session:
                deleted = await forget(session, cutoff, limit=self._batch)
            total += deleted
            if deleted < self._batch:
                break
        return total
