"""responder's composition root."""

from fastapi import FastAPI

from services.responder import api, handlers
from services.responder.config import ResponderSettings
from services.responder.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: ResponderSettings) -> FastAPI:
    def subscriptions(_: ServiceParts) -> list[Subscription]:
        consumed = [settings.topic(topics.EVENTS), settings.topic(topics.PROFILES)]
        return [Subscription(consumed, handlers.REGISTRY)]

    return consumer_service(
        settings,
        title="SCRM responder",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[api.router],
    )
