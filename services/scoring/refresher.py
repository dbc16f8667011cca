"""The loop that keeps what time and the brand move up to date: cut points (one replica at a
time) and lifecycle stages (any replica, each fan to one of them)."""

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring import metrics, repository, standings
from services.scoring.domain import Brand, ScoringModel
from shared.db import transaction
from shared.logging import get_logger
from shared.outbox import Outbox
from shared.periodic import PeriodicTask

log = get_logger(__name__)
CUT_POINTS_LOCK = 0x5C0_0001  # advisory lock key: one cut point refresh at a time
SWEEP_BATCH = 100  # fans of the lifecycle sweep in one transaction, as RESCORE_PAGE
RESCORE_PAGE = 100  # profiles of the rolling rescore in one transaction
DRIFT_CHECK_SECONDS = 1.0  # how often the brands' drift is looked at between refreshes
DRIFT_SPACING_SECONDS = 10.0  # a brand's cut points are refreshed early at most this often


class StandingsRefresher(PeriodicTask):
    def __init__(
        self,
        *,
        interval: float,
        model: ScoringModel,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        rescore_batch: int = 0,
        drift_share: float = 0.0,
    ) -> None:
        tick = min(interval, DRIFT_CHECK_SECONDS) if drift_share else interval
        super().__init__("scoring-standings", tick, self.tick)
        self._refresh_every = interval
        self._next_refresh = 0.0  # time.monotonic() of the next whole refresh
        self._cut_points_owed = False
        self._drift_share = drift_share
        self._rescore_batch = rescore_batch
        self._rescored_up_to = ""  # below every fan key
        self._model = model
        self._sessionmaker = sessionmaker
        self._outbox = outbox

    async def tick(self) -> None:
        """The whole refresh every `interval` (its cut points again at each tick until this
        replica had the refresh's lock: another may have held it for an early refresh of a
        brand or two); between, the cut points of the brands whose fans drifted
        (`standings.TierDrift`) by `drift_share` of them."""
        if time.monotonic() >= self._next_refresh:
            self._next_refresh = time.monotonic() + self._refresh_every
            self._cut_points_owed = not await self.refresh()
        elif self._cut_points_owed:
            self._cut_points_owed = not await self.refresh_cut_points(now=datetime.now(UTC))
        elif self._drift_share:
            drifted = standings.TIER_DRIFT.drifted(
                share=self._drift_share, at=time.monotonic(), spacing=DRIFT_SPACING_SECONDS
            )
            if drifted:
                await self.refresh_cut_points(now=datetime.now(UTC), only=drifted)

    async def refresh(self, *, now: datetime | None = None) -> bool:
        """Whether this replica had the cut points' lock (the sweeps run either way)."""
        now = now or datetime.now(UTC)
        refreshed = await self.refresh_cut_points(now=now)
        await self.sweep_lifecycles(now=now)
        await self.rescore_next(now=now)
        return refreshed

    async def rescore_next(self, *, now: datetime) -> None:
        """The next `rescore_batch` profiles in key order, from where the last turn stopped
        (each replica keeps its own place: a profile rescored twice is harmless), `RESCORE_PAGE`
        a transaction: a thousand in one held the consumer's event loop for their scoring, some
        200 ms at once, and their rows locked meanwhile."""
        left = self._rescore_batch
        while left > 0 and not self.stopping:
            async with transaction(self._sessionmaker) as session:
                following = await standings.rescore_after(
                    session, self._rescored_up_to, model=self._model, outbox=self._outbox,
                    now=now, limit=min(left, RESCORE_PAGE),
                )  # fmt: skip
            self._rescored_up_to = following or ""
            left -= RESCORE_PAGE
            if following is None:
                return  # round the keys once a turn at most

    async def refresh_cut_points(
        self, *, now: datetime, only: Sequence[Brand] | None = None
    ) -> bool:
        """One replica at a time: the advisory lock is held by a transaction of its own for
        the whole refresh. Each brand's cut points in a transaction of their own, and its fans
        moved to their new tiers a page at a time, each page in a short transaction: one
        holding thousands of fans locked stalled the consumer, which waited for them (make
        bench-scoring: a refresh moved about 3,700 of each brand's 5,000 fans, and lag p99 rose
        to 2.5 s each minute), and one holding the fans of several brands could meet the
        consumer, which locks fans across brands, in a deadlock. `only`: these brands, not
        every brand. False when another replica held the lock."""
        moved = 0
        async with transaction(self._sessionmaker) as held:
            if not await repository.try_lock(held, CUT_POINTS_LOCK):
                return False  # another replica is at it
            whole = only is None
            if only is None:
                async with transaction(self._sessionmaker) as session:
                    only = await repository.brands(session)
            else:
                metrics.DRIFT_REFRESHES.inc(len(only))
            for brand in only:
                async with transaction(self._sessionmaker) as session:
                    refreshed = await standings.refresh_brand(
                        session, brand, model=self._model, now=now, tiers_only=not whole
                    )
                standings.TIER_DRIFT.refreshed(brand, fans=refreshed.fans, at=time.monotonic())
                # The whole refresh moves every fan whose tier is not the cut points', even if
                # they did not move: what a refresh stopped half-way left is finished by the
                # next. An early one moves only the fans between the cut points before and now.
                await standings.retier(
                    lambda: transaction(self._sessionmaker), brand, refreshed.cuts,
                    outbox=self._outbox, now=now, within=None if whole else refreshed.between(),
                )  # fmt: skip
                moved += refreshed.moved
        metrics.CUT_POINT_REFRESHES.inc(moved)
        if whole:  # the alert on a stale refresh watches the whole one
            metrics.CUT_POINTS_REFRESHED.set_to_current_time()
        if moved:
            log.info("tier cut points moved", brands=moved)
        return True

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
