"""Forgetting what no platform will retry any more: received-event claims older than the
de-duplication window are deleted in small batches, so the claim table stays the size of the
window and no delete holds locks for long."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.config import IngestSettings
from shared.db import transaction
from shared.logging import get_logger
from shared.periodic import PeriodicTask

log = get_logger(__name__)


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
        self._batch = settings.dedupe_cleanup_batch
        self._sessionmaker = sessionmaker

    async def sweep(self, *, now: datetime | None = None) -> int:
        """Delete every claim older than the window; returns how many."""
        cutoff = (now or datetime.now(UTC)) - self._window
        total = 0
        while not self.stopping:
            async with transaction(self._sessionmaker) as session:
                deleted = await repository.forget_received_before(
                    session, cutoff, limit=self._batch
                )
            total += deleted
            if deleted < self._batch:
                break
        metrics.DEDUPE_FORGOTTEN.inc(total)
        if total:
            log.info("received-event claims past the window forgotten", count=total)
        return total
