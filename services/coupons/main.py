"""coupons's composition root."""

from fastapi import FastAPI

from services.coupons import api, brand_api, handlers, invariants_api, operator_api
from services.coupons.brand_auth import VerifiedKeys
from services.coupons.caches import EmptyPackets
from services.coupons.claim_batches import ClaimBatches
from services.coupons.claim_door import CouponsApp
from services.coupons.claim_page import links_api
from services.coupons.claim_page.router import router as claim_page_router
from services.coupons.config import CouponsSettings
from services.coupons.loops import CouponsLoops
from services.coupons.models import infrastructure
from services.coupons.service import secure_rng
from shared.service import Loop, ServiceParts, Subscription, consumer_service


def create_app(settings: CouponsSettings) -> FastAPI:
    rng = secure_rng()

    def subscriptions(parts: ServiceParts) -> list[Subscription]:
        return handlers.subscriptions(settings, parts.outbox, rng)

    def loops(parts: ServiceParts) -> list[Loop]:
        batches = ClaimBatches(
            parts, app.state.empty_packets, max_batch=settings.claim_batch_max,
            in_flight=settings.claim_batches_in_flight,
        )  # fmt: skip
        app.state.claim_batches = batches
        return [*CouponsLoops(settings, parts, rng).loops(), batches]

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
