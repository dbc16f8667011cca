"""coupons's composition root."""

from fastapi import FastAPI

from services.coupons import api, brand_api, handlers, operator_api
from services.coupons.claim_page import links_api
from services.coupons.claim_page.router import router as claim_page_router
from services.coupons.config import CouponsSettings
from services.coupons.models import infrastructure
from services.coupons.service import secure_rng
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: CouponsSettings) -> FastAPI:
    rng = secure_rng()

    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return handlers.subscriptions(settings, parts.outbox, rng)

    return consumer_service(
        settings,
        title="SCRM coupons",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[
            api.router,
            operator_api.router,
            brand_api.router,
            links_api.router,
            claim_page_router,
        ],
    )
