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
        """One replica at a time: the advisory lock is held by a transaction of its own for
        the whole refresh. Each brand's cut points in a transaction of their own, and its fans
        moved to their new tiers a page at a time, each page in a short transaction: one
        holding thousands of fans locked stalled the consumer, which waited for them (make
        bench-scoring: a refresh moved about 3,700 of each brand's 5,000 fans, and lag p99 rose
        to 2.5 s each minute), and one holding the fans of several brands could meet the
        consumer, which locks fans across brands, in a deadlock."""
        moved = 0
        async with transaction(self._sessionmaker) as held:
            if not await repository.try_lock(held, CUT_POINTS_LOCK):
                return  # another replica is at it
            async with transaction(self._sessionmaker) as session:
                brands = await repository.brands(session)
            for brand in brands:
                async with transaction(self._sessionmaker) as session:
                    cuts, changed = await standings.refresh_brand(
                        session, brand, model=self._model, now=now
                    )
                # every time, not only when they moved: what a refresh stopped half-way left
                # is finished by the next
                await standings.retier(
                    lambda: transaction(self._sessionmaker), brand, cuts, outbox=self._outbox,
                    now=now,
                )  # fmt: skip
                moved += changed
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
