"""ingest's composition root."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ingest import api
from services.ingest.accounts import AccountDirectory
from services.ingest.config import IngestSettings
from services.ingest.models import infrastructure
from services.ingest.platforms import build_adapters
from services.ingest.service import WebhookIntake
from shared.logging import get_logger
from shared.service import ServiceParts, Subscription, base_app, service_parts

log = get_logger(__name__)


def create_app(settings: IngestSettings) -> FastAPI:
    def subscriptions(_: ServiceParts) -> list[Subscription]:
        return []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        adapters = build_adapters(settings)
        accounts = AccountDirectory.from_file(settings.accounts_file, adapters)
        log.info("brand accounts loaded", count=len(accounts), platforms=sorted(adapters))
        async with service_parts(settings, infrastructure, subscriptions) as parts:
            app.state.parts = parts
            app.state.intake = WebhookIntake(
                settings, adapters, accounts, parts.producer, parts.sessionmaker
            )
            app.state.max_body_bytes = settings.max_body_bytes
            yield

    app = base_app(settings, title="SCRM ingest", lifespan=lifespan)
    app.include_router(api.router)
    return app
