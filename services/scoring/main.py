"""scoring's composition root."""

from fastapi import FastAPI

from services.scoring import api, handlers
from services.scoring.config import ScoringSettings
from services.scoring.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: ScoringSettings) -> FastAPI:
    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return [Subscription([settings.topic(topics.EVENTS)], handlers.registry(parts.outbox))]

    return consumer_service(
        settings,
        title="SCRM scoring",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[api.router],
    )
