"""responder's composition root."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.responder import api, handlers
from services.responder.config import ResponderSettings
from services.responder.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, base_app, service_parts


def create_app(settings: ResponderSettings) -> FastAPI:
    def subscriptions(_: ServiceParts) -> list[Subscription]:
        consumed = [settings.topic(topics.EVENTS), settings.topic(topics.PROFILES)]
        return [Subscription(consumed, handlers.REGISTRY)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_parts(settings, infrastructure, subscriptions) as parts:
            app.state.parts = parts
            yield

    app = base_app(settings, title="SCRM responder", lifespan=lifespan)
    app.include_router(api.router)
    return app
