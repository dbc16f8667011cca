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
from services.ingest.platforms import build_adapters
from services.ingest.retention import ReceivedEventsJanitor
from services.ingest.service import AccountAdmin, WebhookIntake
from shared import topics
from shared.contracts import topic_of
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
    def subscriptions(_: ServiceParts) -> list[Subscription]:
        return [Subscription([settings.topic(topics.REPLIES)], handlers.REGISTRY)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        adapters = build_adapters(settings)
        accounts = AccountDirectory.from_file(settings.accounts_file, adapters)
        log.info("brand accounts loaded", count=len(accounts), platforms=sorted(adapters))
        http = httpx.AsyncClient(timeout=settings.send_timeout_seconds)
        async with http, service_parts(settings, infrastructure, subscriptions) as parts:
            app.state.parts = parts
            box = SecretBox(settings.fernet_keys()) if settings.accounts_keys else None
            admin = AccountAdmin(adapters, accounts, parts.sessionmaker, box)
            await admin.load()
            app.state.account_admin = admin
            committer = GroupCommitter(
                database_url=settings.database_url.get_secret_value(), producer=parts.producer,
                topic_for=lambda event: settings.topic(topic_of(event.data)),
                max_in_flight=settings.commit_max_in_flight,
            )  # fmt: skip
            await committer.start()
            parts.workers.append(committer)
            app.state.intake = WebhookIntake(
                settings, adapters, accounts, parts.producer, committer
            )
            app.state.max_body_bytes = settings.max_body_bytes
            app.state.admin_token = settings.admin_token
            refresh = PeriodicTask(
                "accounts-refresh", settings.accounts_refresh_seconds, admin.refresh
            )
            janitor = ReceivedEventsJanitor(settings, parts.sessionmaker)
            for worker in (refresh, janitor):
                worker.start()
                parts.workers.append(worker)
            dispatcher = ReplyDispatcher(
                settings, adapters=adapters, accounts=accounts, sessionmaker=parts.sessionmaker,
                outbox=parts.outbox, http=http,
            )  # fmt: skip
            dispatcher.start()
            parts.workers.append(dispatcher)
            try:
                yield
            finally:
                await shutdown_step("stop accounts refresh", refresh.stop())
                await shutdown_step("stop received-events janitor", janitor.stop())
                await shutdown_step("drain webhook batches", committer.stop())
                # before the relay stops (service_parts), so its outcomes go out
                await shutdown_step("stop reply dispatcher", dispatcher.stop())

    app = operated(api.IngestApp(title="SCRM ingest", lifespan=lifespan), settings)
    app.webhook_fast_path = settings.webhook_fast_path
    app.include_router(api.router)
    app.include_router(api.admin_router)
    app.add_exception_handler(RequestValidationError, api.validation_error_without_input)
    return app
