"""The parts every service is built from, assembled and torn down in the right order.

Start: engine, producer, outbox relay, consumers. Stop (after the HTTP server stopped taking
requests): consumers drain and commit, the relay publishes what is left, the producer flushes,
the engine closes.
"""

import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.consumer import ConsumerRunner, HandlerRegistry
from shared.consumer_batch import BatchRegistry
from shared.db import InfrastructureTables, create_engine, create_sessionmaker, ping
from shared.kafka import EventProducer
from shared.logging import configure_logging, get_logger
from shared.ops import HttpMetricsMiddleware, ReadinessCheck, ops_router
from shared.outbox import Outbox, OutboxRelay
from shared.settings import BaseServiceSettings

log = get_logger(__name__)
STARTUP_FAILURE = 3  # uvicorn's exit code when a server could not start


class Worker(Protocol):
    @property
    def healthy(self) -> bool: ...


class Loop(Worker, Protocol):
    """A service's own background loop (`PeriodicTask`, responder's timers): started with the
    service, stopped before its consumers."""

    name: str

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """The topics one consumer group reads and its handlers: a registry of per-event handlers,
    or a `BatchRegistry` for batch mode (one transaction per fetched group of partitions). A
    service's second subscription names its group (`<service group>-<group>`)."""

    topics: list[str]
    handlers: HandlerRegistry | BatchRegistry
    group: str | None = None

    def group_id(self, settings: BaseServiceSettings) -> str:
        base = settings.consumer_group
        return base if self.group is None else f"{base}-{self.group}"


@dataclass
class ServiceParts:
    settings: BaseServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    producer: EventProducer
    outbox: Outbox
    relay: OutboxRelay
    consumers: list[ConsumerRunner] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)  # a service's own background loops

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        async def postgres() -> None:
            async with self.sessionmaker() as session:
                await ping(session)

        async def background_tasks() -> None:
            loops: list[Worker] = [self.relay, *self.consumers, *self.workers]
            if not all(loop.healthy for loop in loops):
                raise RuntimeError("a consumer or background worker has stopped")

        async def consumers() -> None:  # paused for an outage: red, with the part it waits for
            for runner in self.consumers:
                if (outage := runner.outage) is not None:
                    raise outage

        return {
            "kafka": self.producer.check,
            "postgres": postgres,
            "workers": background_tasks,
            "consumers": consumers,
        }


@asynccontextmanager
async def service_parts(
    settings: BaseServiceSettings,
    tables: InfrastructureTables,
    subscriptions: Callable[["ServiceParts"], list[Subscription]],
) -> AsyncIterator[ServiceParts]:
    engine = create_engine(
        settings.database_url.get_secret_value(), pool_size=settings.database_pool_size
    )
    sessionmaker = create_sessionmaker(engine)
    producer = EventProducer(settings)
    await producer.start()
    relay = OutboxRelay(
        settings=settings, sessionmaker=sessionmaker, tables=tables, producer=producer
    )
    outbox = Outbox(settings, tables)
    outbox.on_commit = relay.nudge
    parts = ServiceParts(settings, engine, sessionmaker, producer, outbox, relay)
    try:
        relay.start()
        for subscription in subscriptions(parts):
            runner = ConsumerRunner(
                settings=settings,
                topics=subscription.topics,
                handlers=subscription.handlers,
                group_id=subscription.group_id(settings),
                sessionmaker=sessionmaker,
                tables=tables,
                producer=producer,
            )
            await runner.start()
            parts.consumers.append(runner)
        log.info("service started", port=settings.http_port)
        yield parts
    finally:
        for runner in parts.consumers:
            await shutdown_step("stop consumer", runner.stop())
        await shutdown_step("stop outbox relay", relay.stop())
        await shutdown_step("flush producer", producer.stop())
        await shutdown_step("close database pool", engine.dispose())
        log.info("service stopped")


async def shutdown_step(what: str, shutdown: Awaitable[None]) -> None:
    """One shutdown step; a failure is logged and the next step still runs."""
    try:
        await shutdown
    except Exception:
        log.exception("shutdown step failed", step=what)


AppT = TypeVar("AppT", bound=FastAPI)


def consumer_service(
    settings: BaseServiceSettings,
    *,
    title: str,
    tables: InfrastructureTables,
    subscriptions: Callable[[ServiceParts], list[Subscription]],
    routers: Sequence[APIRouter] = (),
    loops: Callable[[ServiceParts], Sequence[Loop]] = lambda _: (),
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    """The app of a service built from the shared parts alone (scoring, responder, coupons):
    its lifespan runs them and the service's own background `loops` (stopped first), its
    routers come after the ops endpoints. `app_class`: FastAPI or a subclass that serves a hot
    route ahead of the stack (a door)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_parts(settings, tables, subscriptions) as parts:
            started = list(loops(parts))
            for loop in started:
                loop.start()
            parts.workers += started
            app.state.parts = parts
            try:
                yield
            finally:
                for loop in started:
                    await shutdown_step(f"stop {loop.name}", loop.stop())

    app = operated(app_class(title=title, lifespan=lifespan), settings)
    for router in routers:
        app.include_router(router)
    return app


def operated(app: AppT, settings: BaseServiceSettings) -> AppT:
    """`app` (FastAPI or a subclass) with logging, HTTP metrics and the ops endpoints."""
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    app.add_middleware(HttpMetricsMiddleware, service=settings.service_name)
    app.include_router(ops_router(lambda: _checks(app)))
    return app


def parts_of(app: FastAPI) -> ServiceParts:
    """The parts the running lifespan put in `app.state.parts`."""
    parts = getattr(app.state, "parts", None)
    if not isinstance(parts, ServiceParts):
        raise RuntimeError("the service's parts are not built: its lifespan is not running")
    return parts


def _checks(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    try:
        return parts_of(app).readiness_checks()
    except RuntimeError:  # the lifespan has not built them yet: not ready
        return {}


def serve(app: FastAPI, settings: BaseServiceSettings) -> None:
    """Run one service's app until SIGINT/SIGTERM, then shut down gracefully."""
    import uvicorn

    from shared.http_server import server_config

    server = uvicorn.Server(server_config(app, settings))
    # What was built to start (modules, models, validators) lives as long as the process: out of
    # the collector's way, it is not walked again at every full collection.
    gc.collect()
    gc.freeze()
    # A young collection every 50,000 objects rather than 700: a consumer's batch keeps tens of
    # thousands alive across its awaits, and at 700 they were walked again and again on their
    # way to the oldest generation, whose full walks took a sixth of scoring's CPU (make
    # bench-scoring: 207 → 183 µs an event, resident memory 161 → 174 MB).
    gc.set_threshold(50_000, 20, 10)
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT is a request to stop, as in uvicorn.run
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
