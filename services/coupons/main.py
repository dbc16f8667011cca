"""coupons's composition root."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.coupons import api, handlers
from services.coupons.config import CouponsSettings
from services.coupons.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, base_app, service_parts


def create_app(settings: CouponsSettings) -> FastAPI:
    def subscriptions(_: ServiceParts) -> list[Subscription]:
        consumed = [settings.topic(topics.EVENTS)]
        return [Subscription(consumed, handlers.REGISTRY)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_parts(settings, infrastructure, subscriptions) as parts:
            app.state.parts = parts
            yield

    app = base_app(settings, title="SCRM coupons", lifespan=lifespan)
    app.include_router(api.router)
    return app
