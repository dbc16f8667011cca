"""ingest's composition root."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from services.ingest import api, handlers
from services.ingest.accounts import AccountDirectory, SecretBox
from services.ingest.config import IngestSettings
from services.ingest.group_commit import GroupCommitter
from services.ingest.models import infrastructure
from services.ingest.outbound import ReplyDispatcher
from services.ingest.platforms import build_platforms
from services.ingest.rejections import RejectionRecorder
from services.ingest.replays import SeenSignatures
from services.ingest.retention import ReceivedEventsJanitor
from services.ingest.service import AccountAdmin, WebhookIntake
from services.ingest.state import IngestState
from services.ingest.webhooks import IngestApp
from shared import topics
from shared.logging import get_logger
from shared.periodic import PeriodicTask
from shared.service import (
    ServiceParts,
    Subscription,
    operated,
    service_parts,
    shutdown_step,
)

log = get_logger(__name__)


def create_app(settings: IngestSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings) as (parts, ingest):
            app.state.parts, app.state.ingest = parts, ingest
            yield

    app = operated(IngestApp(title="SCRM ingest", lifespan=lifespan), settings)
    app.include_router(api.router)
    app.add_exception_handler(RequestValidationError, api.validation_error_without_input)
    return app


@asynccontextmanager
async def running(settings: IngestSettings) -> AsyncIterator[tuple[ServiceParts, IngestState]]:
    """The shared parts, then ingest's own. At the end the webhook batches drain, and the reply
    dispatcher stops before the outbox relay does (in service_parts), so its outcomes go out."""
    platforms = build_platforms(settings)
    accounts = AccountDirectory.from_file(settings.accounts_file, platforms.adapters)
    log.info("brand accounts loaded", count=len(accounts), platforms=sorted(platforms.adapters))

    def subscriptions(_: ServiceParts) -> list[Subscription]:
        return [Subscription([settings.topic(topics.REPLIES)], handlers.REGISTRY)]

    http = httpx.AsyncClient(timeout=settings.send_timeout_seconds)
    async with http, service_parts(settings, infrastructure, subscriptions) as parts:
        box = SecretBox(settings.fernet_keys()) if settings.accounts_keys else None
        admin = AccountAdmin(platforms.adapters, accounts, parts.sessionmaker, box)
        await admin.load()
        committer = GroupCommitter(
            database_url=settings.database_url.get_secret_value(), producer=parts.producer,
            topics=settings, max_in_flight=settings.commit_max_in_flight,
        )  # fmt: skip
        await committer.start()
        refresh = PeriodicTask("accounts-refresh", settings.accounts_refresh_seconds, admin.refresh)
        janitor = ReceivedEventsJanitor(settings, parts.sessionmaker)
        dispatcher = ReplyDispatcher(
            settings, senders=platforms.senders, accounts=accounts,
            sessionmaker=parts.sessionmaker, outbox=parts.outbox, http=http,
        )  # fmt: skip
        rejections = RejectionRecorder(settings, parts.producer, platforms.adapters)
        for loop in (refresh, janitor, dispatcher, rejections):
            loop.start()
        parts.workers += [committer, refresh, janitor, dispatcher, rejections]
        seen = SeenSignatures(platforms.adapters, parts.sessionmaker)
        intake = WebhookIntake(settings, platforms.adapters, accounts, committer, rejections, seen)
        try:
            yield parts, IngestState(settings, intake, admin)
        finally:
            await shutdown_step("stop accounts refresh", refresh.stop())
            await shutdown_step("stop received-events janitor", janitor.stop())
            await shutdown_step("drain webhook batches", committer.stop())
            await shutdown_step("record the last refusals", rejections.stop())
            await shutdown_step("stop reply dispatcher", dispatcher.stop())
