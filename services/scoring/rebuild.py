"""Replay: every fan profile recomputed from scoring's topics into fresh tables.

    python -m services.scoring rebuild [--schema S] [--swap] [--now ISO] [--batch-size N]
                                       [--log-every N] [--metrics-port PORT]

Reads each topic the service subscribes to (`handlers.subscriptions`: ``scrm.events.v1``,
``scrm.operator.v1``, ``scrm.coupons.v1``, with the deployment's prefix) from the first offset
of every partition up to the end offsets taken when the reading begins: partitions assigned, no
consumer group, nothing committed, so the live service is not disturbed. Each fetched batch is
applied (`replay.Replay`) with the live consumer's own code (the subscriptions' registries,
`shared.consumer_batch.apply_batch`, and so `service.score_events`): event ids are claimed, so
an event on the topic twice counts once.
It goes into fresh tables, scoring's own in a schema of their own (dropped and created again at
start; `rebuild_repository`). Then every brand's cut points and tiers are recomputed as the
refresher does (`standings.refresh_cut_points`) and every profile is scored at one instant
(`--now`; by default when the reading ended): the same events at the same instant give the same
profiles, and other settings (weights, half-lives, caps, thresholds, tag rules) give theirs.

It publishes nothing (`Unannounced`). With `--swap` the rebuilt tables then replace the live
ones (`Rebuild.swap`); the service must then run with the settings they were rebuilt with.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alembic.script import ScriptDirectory
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.scoring import handlers, metrics, rebuild_repository, repository, standings
from services.scoring.config import ScoringSettings
from services.scoring.domain import ScoringModel
from services.scoring.models import SCHEMA, infrastructure
from services.scoring.rebuild_repository import PREVIOUS, RebuildRefused
from services.scoring.replay import Progress, Replay
from shared.consumer_batch import BatchRegistry
from shared.db import Tx, create_engine, create_sessionmaker, transaction
from shared.events import CloudEvent, DataT
from shared.logging import configure_logging, get_logger
from shared.migrate import alembic_config
from shared.outbox import Outbox
from shared.service import Subscription

log = get_logger(__name__)
DEFAULT_SCHEMA = "scoring_rebuild"
# How long the swap may take to read the last events while it holds the live tables (the
# service waits meanwhile); past it, nothing is swapped.
SWAP_CATCH_UP_SECONDS = 60.0


@dataclass(frozen=True)
class RebuildOptions:
    schema: str = DEFAULT_SCHEMA
    swap: bool = False
    now: datetime | None = None  # the instant every profile is scored at; None: end of reading
    batch_size: int = 500  # records fetched per partition and transaction; profiles per page
    log_every: int = 10_000  # records read between two progress lines


@dataclass(frozen=True)
class RebuildReport:
    schema: str  # where the rebuilt tables are: the rebuild's schema, or scoring's once swapped
    events_read: int
    events_applied: int
    events_skipped: int
    profiles: int
    scored_at: datetime
    swapped: bool


class Unannounced(Outbox):
    """The rebuild's outbox: keeps nothing. A rebuild recomputes profiles the live service has
    announced already; announcing them again would hand every reader of ``scrm.profiles.v1`` a
    second history, and writing them to the rebuilt schema's own outbox table would have the
    relay send them all after a swap. The rebuilt outbox table stays empty (and a swap replaces
    whatever it holds with the live outbox's unsent rows)."""

    async def add(self, session: Tx, event: CloudEvent[DataT]) -> None:
        return None

    async def add_all(self, session: Tx, events: Sequence[CloudEvent[Any]]) -> None:
        return None


class Rebuild:
    """One run: prepare the schema, replay the topic, rank, rescore, and swap if asked."""

    def __init__(
        self, settings: ScoringSettings, options: RebuildOptions, engine: AsyncEngine
    ) -> None:
        self._settings = settings
        self._options = options
        self._engine = engine
        self._model = ScoringModel.from_settings(settings)
        self._outbox = Unannounced(settings, infrastructure)
        rebuilt = rebuild_repository.translated(engine, options.schema)
        self._sessionmaker = create_sessionmaker(rebuilt)
        self.progress = Progress(options.log_every)

    async def run(self) -> RebuildReport:
        try:
            return await self._run()
        except BaseException:
            self.progress.phase("failed")
            raise

    async def _run(self) -> RebuildReport:
        if self._options.swap:  # refused now rather than after the whole replay
            async with self._engine.connect() as connection:
                await self._check_migrated(connection)
        self.progress.phase("preparing")
        async with self._engine.begin() as connection:
            await rebuild_repository.recreate_schema(connection, self._options.schema)
        subscriptions = handlers.subscriptions(self._settings, self._model, self._outbox)
        async with contextlib.AsyncExitStack() as stack:
            replays = [await stack.enter_async_context(self._replay(s)) for s in subscriptions]
            self.progress.phase("reading")
            await read_to_end(replays)
            now = self._options.now or datetime.now(UTC)
            await self._rank(now)
            await self._rescore_all(now)
            if self._options.swap:
                await self.swap(replays)
        self.progress.phase("done")
        return self._report(now)

    def _replay(self, subscription: Subscription) -> Replay:
        """One of the live service's subscriptions, read as its consumer group reads it."""
        if not isinstance(subscription.handlers, BatchRegistry):
            raise TypeError("the rebuild replays batch subscriptions")
        return Replay(
            self._settings, topic=subscription.topics[0],
            claimant=subscription.group_id(self._settings), registry=subscription.handlers,
            sessionmaker=self._sessionmaker, progress=self.progress,
            batch_size=self._options.batch_size,
        )  # fmt: skip

    async def _rank(self, now: datetime) -> None:
        self.progress.phase("ranking")
        async with transaction(self._sessionmaker) as session:
            await standings.refresh_cut_points(
                session, model=self._model, outbox=self._outbox, now=now
            )

    async def _rescore_all(self, now: datetime) -> None:
        self.progress.phase("rescoring")
        after = ""  # below every fan key
        while True:
            async with transaction(self._sessionmaker) as session:
                rows = await repository.profiles_after(
                    session, after, limit=self._options.batch_size
                )
                await standings.rescore(session, rows, model=self._model, now=now)
            if not rows:
                return
            after = rows[-1].fan_key
            self.progress.rescored_profiles(len(rows))

    async def swap(self, replays: Sequence[Replay]) -> None:
        """Put the rebuilt tables in place of the live ones, in one transaction that holds the
        live tables: the events that came since the reading are applied first (most before
        taking the locks), then, if the live consumer applied no event the rebuild has not, the
        schemas are renamed; the live ones are kept as `PREVIOUS`. A consumer still running
        waits on the locks, then goes on in the rebuilt tables, where its claims are: what it
        reads again (its offsets were not committed past the rebuild's) changes nothing.

        That consumer must run with the settings the tables were rebuilt with: a half-life is
        the unit of the stored engagement sums, and read with another it gives nonsense. So a
        change of settings is swapped in with the service stopped, and started with them."""
        await read_to_end(replays)
        self.progress.phase("swapping")
        schema = self._options.schema
        async with self._engine.begin() as connection:
            await self._check_migrated(connection)  # first: older live tables may lack some
            await rebuild_repository.lock_live_tables(connection)
            try:
                await asyncio.wait_for(read_to_end(replays), SWAP_CATCH_UP_SECONDS)
            except TimeoutError:
                raise RebuildRefused("not swapped: the last events took too long to read") from None
            missing = 0
            for replay in replays:
                missing += await rebuild_repository.claims_missing_from(
                    connection, schema, consumer=replay.claimant
                )
            if missing:
                raise RebuildRefused(
                    f"not swapped: the live service applied {missing} events the rebuild did not "
                    "(gone from the topic, or failing here); the rebuilt tables are left in "
                    f"{schema}"
                )
            await rebuild_repository.swap_schemas(connection, schema)
        log.info("rebuilt profiles swapped in", previous=PREVIOUS)

    async def _check_migrated(self, connection: AsyncConnection) -> None:
        """The live tables must be the ones this code's models describe, or the rebuilt ones
        would not fit in their place."""
        url = self._settings.database_url.get_secret_value()
        head = ScriptDirectory.from_config(alembic_config("scoring", url)).get_current_head()
        live = await rebuild_repository.live_version(connection)
        if live != head:
            raise RebuildRefused(f"the live scoring schema is at migration {live}, this code at "
                                 f"{head}: migrate (or run the matching code) first")  # fmt: skip

    def _report(self, now: datetime) -> RebuildReport:
        progress, swapped = self.progress, self._options.swap
        return RebuildReport(
            schema=SCHEMA if swapped else self._options.schema,
            events_read=progress.read, events_applied=progress.applied,
            events_skipped=progress.skipped, profiles=progress.rescored, scored_at=now,
            swapped=swapped,
        )  # fmt: skip


async def rebuild(settings: ScoringSettings, options: RebuildOptions) -> RebuildReport:
    """One rebuild, refused while another runs against the same database."""
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    try:
        async with rebuild_repository.one_rebuild_at_a_time(engine):
            return await Rebuild(settings, options, engine).run()
    finally:
        await engine.dispose()


def command(settings: ScoringSettings, options: RebuildOptions, *, metrics_port: int | None) -> int:
    """`python -m services.scoring rebuild`: the exit status (1: refused)."""
    configure_logging(service=settings.service_name, level=settings.log_level,
                      json=settings.log_json)  # fmt: skip
    server = None
    if metrics_port is not None:
        server, _ = start_http_server(
            metrics_port, addr=settings.http_host, registry=metrics.REBUILD_REGISTRY
        )
    try:
        report = asyncio.run(rebuild(settings, options))
    except RebuildRefused as refused:
        log.error("rebuild refused", reason=str(refused))
        return 1
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    log.info("rebuild finished", schema=report.schema, read=report.events_read,
             applied=report.events_applied, skipped=report.events_skipped,
             profiles=report.profiles, scored_at=report.scored_at.isoformat(),
             swapped=report.swapped)  # fmt: skip
    return 0


async def read_to_end(replays: Sequence[Replay]) -> None:
    """Each topic up to its end as it is now, one after the other: the operators' decisions
    are kept apart from the profiles (`ManualLabel`), so the order gives the same tables."""
    for replay in replays:
        await replay.read_to_end()
