"""coupons's composition root."""

from fastapi import FastAPI

from services.coupons import api, handlers
from services.coupons.config import CouponsSettings
from services.coupons.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: CouponsSettings) -> FastAPI:
    def subscriptions(_: ServiceParts) -> list[Subscription]:
        return [Subscription([settings.topic(topics.EVENTS)], handlers.REGISTRY)]

    return consumer_service(
        settings,
        title="SCRM coupons",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[api.router],
    )
