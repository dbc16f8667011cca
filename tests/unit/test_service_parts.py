"""A service's parts are reached through one typed accessor; before its lifespan built them the
service is not ready and a route that needs them fails instead of reading a missing attribute."""

import httpx
import pytest

from services.scoring.config import ScoringSettings
from services.scoring.main import create_app
from shared.service import parts_of


def nowhere() -> ScoringSettings:
    """Settings that reach nothing: nothing is built until the lifespan runs."""
    return ScoringSettings(
        kafka_bootstrap_servers="localhost:1", database_url="postgresql+asyncpg://u:p@localhost/x",
        log_json=False, log_level="WARNING",
    )  # fmt: skip


def unstarted_scoring() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(nowhere()), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


class TestPartsBeforeTheLifespan:
    def test_the_accessor_refuses_an_app_whose_lifespan_has_not_run(self) -> None:
        with pytest.raises(RuntimeError, match="lifespan"):
            parts_of(create_app(nowhere()))

    async def test_the_service_is_alive_but_not_ready(self) -> None:
        async with unstarted_scoring() as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 503

    async def test_a_route_that_needs_a_session_fails_as_a_server_error(self) -> None:
        async with unstarted_scoring() as client:
            assert (await client.get("/v1/fans/line:oa:u1")).status_code == 500
