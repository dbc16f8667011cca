"""scoring's composition root."""

from fastapi import FastAPI

from services.scoring import api, handlers
from services.scoring.config import ScoringSettings
from services.scoring.domain import ScoringModel
from services.scoring.models import infrastructure
from shared import topics
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: ScoringSettings) -> FastAPI:
    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        registry = handlers.registry(ScoringModel.from_settings(settings), parts.outbox)
        return [Subscription([settings.topic(topics.EVENTS)], registry)]

    return consumer_service(
        settings,
        title="SCRM scoring",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[api.router],
    )
