"""coupons's composition root."""

from fastapi import FastAPI

from services.coupons import api, brand_api, handlers, invariants_api, operator_api
from services.coupons.brand_auth import VerifiedKeys
from services.coupons.claim_door import CouponsApp
from services.coupons.claim_page import links_api
from services.coupons.claim_page.router import router as claim_page_router
from services.coupons.claims import EmptyPackets
from services.coupons.config import CouponsSettings
from services.coupons.loops import CouponsLoops
from services.coupons.models import infrastructure
from services.coupons.service import secure_rng
from shared.periodic import PeriodicTask
from shared.service import ServiceParts, Subscription, consumer_service


def create_app(settings: CouponsSettings) -> FastAPI:
    rng = secure_rng()

    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return handlers.subscriptions(settings, parts.outbox, rng)

    def loops(parts: ServiceParts) -> list[PeriodicTask]:
        return CouponsLoops(settings, parts, rng).loops()

    app = consumer_service(
        settings,
        title="SCRM coupons",
        tables=infrastructure,
        subscriptions=subscriptions,
        routers=[
            api.router,
            operator_api.router,
            brand_api.router,
            invariants_api.router,
            links_api.router,
            claim_page_router,
        ],
        loops=loops,
        app_class=CouponsApp,
    )
    app.state.verified_keys = VerifiedKeys()
    app.state.empty_packets = EmptyPackets()
    return app
