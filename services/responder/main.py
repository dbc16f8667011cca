"""responder's composition root."""

from fastapi import FastAPI

from services.responder import admin_api, agent_api, api, handlers
from services.responder.config import ResponderSettings
from services.responder.console.router import router as console_router
from services.responder.models import infrastructure
from services.responder.runtime import Runtime
from shared import topics
from shared.service import Loop, ServiceParts, Subscription, consumer_service


def create_app(settings: ResponderSettings) -> FastAPI:
    runtime = Runtime(settings)

    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        consumed = [settings.topic(topics.EVENTS), settings.topic(topics.PROFILES)]
        return [Subscription(consumed, handlers.registry(runtime.bind(parts)))]

    def loops(_: ServiceParts) -> list[Loop]:
        return list(runtime.loops())

    app = consumer_service(
        settings,
        title="SCRM responder",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[api.router, api.actions, agent_api.router, admin_api.router, console_router],
        loops=loops,
    )
    app.state.runtime = runtime
    return app
