"""scoring's composition root."""

from fastapi import FastAPI

from services.scoring import api, handlers
from services.scoring.config import ScoringSettings
from services.scoring.domain import ScoringModel
from services.scoring.models import infrastructure
from services.scoring.refresher import StandingsRefresher
from shared.periodic import PeriodicTask
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: ScoringSettings) -> FastAPI:
    model = ScoringModel.from_settings(settings)

    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return handlers.subscriptions(settings, model, parts.outbox)

    def loops(parts: ServiceParts) -> list[PeriodicTask]:
        refresher = StandingsRefresher(
            interval=settings.cut_points_refresh_seconds, model=model,
            sessionmaker=parts.sessionmaker, outbox=parts.outbox,
            rescore_batch=settings.rescore_batch,
            drift_share=settings.cut_points_drift_share,
        )  # fmt: skip
        return [refresher]

    return consumer_service(
        settings,
        title="SCRM scoring",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[api.router],
        loops=loops,
    )
