"""scoring's composition root."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.scoring import api, handlers
from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, base_app, service_parts


def create_app(settings: ScoringSettings) -> FastAPI:
    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return [Subscription([settings.topic(topics.EVENTS)], handlers.registry(parts.outbox))]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_parts(settings, infrastructure, subscriptions) as parts:
            app.state.parts = parts
            yield

    app = base_app(settings, title="SCRM scoring", lifespan=lifespan)
    app.include_router(api.router)
    return app
