"""The loop that keeps what time and the brand move up to date: cut points (one replica at a
time) and lifecycle stages (any replica, each fan to one of them)."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring import metrics, repository, standings
from services.scoring.domain import ScoringModel
from shared.db import transaction
from shared.logging import get_logger
from shared.outbox import Outbox
from shared.periodic import PeriodicTask

log = get_logger(__name__)
CUT_POINTS_LOCK = 0x5C0_0001  # advisory lock key: one cut point refresh at a time
SWEEP_BATCH = 500


class StandingsRefresher(PeriodicTask):
    def __init__(
        self,
        *,
        interval: float,
        model: ScoringModel,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        rescore_batch: int = 0,
    ) -> None:
        super().__init__("scoring-standings", interval, self.refresh)
        self._rescore_batch = rescore_batch
        self._rescored_up_to = ""  # below every fan key
        self._model = model
        self._sessionmaker = sessionmaker
        self._outbox = outbox

    async def refresh(self, *, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        await self.refresh_cut_points(now=now)
        await self.sweep_lifecycles(now=now)
        await self.rescore_next(now=now)

    async def rescore_next(self, *, now: datetime) -> None:
        """The next `rescore_batch` profiles in key order, from where the last turn stopped
        (each replica keeps its own place: a profile rescored twice is harmless)."""
        if self._rescore_batch == 0:
            return
        async with transaction(self._sessionmaker) as session:
            following = await standings.rescore_after(
                session, self._rescored_up_to, model=self._model, outbox=self._outbox,
                now=now, limit=self._rescore_batch,
            )  # fmt: skip
        self._rescored_up_to = following or ""

    async def refresh_cut_points(self, *, now: datetime) -> None:
        """Each brand in a transaction of its own: one holding the fans of several brands
        locked could meet the consumer, which locks fans across brands, in a deadlock."""
        async with transaction(self._sessionmaker) as session:
            brands = await repository.brands(session)
        moved = 0
        for brand in brands:
            async with transaction(self._sessionmaker) as session:
                if not await repository.try_lock(session, CUT_POINTS_LOCK):
                    return  # another replica is at it
                moved += await standings.refresh_brand(
                    session, brand, model=self._model, outbox=self._outbox, now=now
                )
        metrics.CUT_POINT_REFRESHES.inc(moved)
        metrics.CUT_POINTS_REFRESHED.set_to_current_time()
        if moved:
            log.info("tier cut points moved", brands=moved)

    async def sweep_lifecycles(self, *, now: datetime) -> int:
        total = 0
        while not self.stopping:
            async with transaction(self._sessionmaker) as session:
                swept = await standings.sweep_lifecycles(
                    session, model=self._model, outbox=self._outbox, now=now, limit=SWEEP_BATCH
                )
            total += swept
            if swept < SWEEP_BATCH:
                break
        return total
