"""Every route and dependency of every service is async: FastAPI runs a plain `def` endpoint or
dependency in its thread pool, a hop (and a fight for the GIL) on every request that costs more
than many a request's own work."""

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from services.coupons.config import CouponsSettings
from services.coupons.main import create_app as coupons_app
from services.ingest.config import IngestSettings
from services.ingest.main import create_app as ingest_app
from services.responder.config import ResponderSettings
from services.responder.main import create_app as responder_app
from services.scoring.config import ScoringSettings
from services.scoring.main import create_app as scoring_app

NOWHERE: dict[str, Any] = {
    "kafka_bootstrap_servers": "localhost:1", "log_json": False, "log_level": "WARNING",
    "database_url": "postgresql+asyncpg://u:p@localhost/x",
}  # fmt: skip
APPS: dict[str, Callable[[], FastAPI]] = {
    "ingest": lambda: ingest_app(IngestSettings(**NOWHERE)),
    "scoring": lambda: scoring_app(ScoringSettings(**NOWHERE)),
    "responder": lambda: responder_app(ResponderSettings(**NOWHERE)),
    "coupons": lambda: coupons_app(CouponsSettings(**NOWHERE)),
}


def runs_on_the_loop(call: Any) -> bool:
    """A coroutine function, an async generator, or an object whose __call__ is one of them
    (the security schemes)."""
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = getattr(type(call), "__call__", None)  # noqa: B004 (instances, not functions)
    return not inspect.isfunction(call) and (
        inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
    )


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The routes, those of included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from calls(sub)


@pytest.mark.parametrize("service", sorted(APPS))
def test_no_route_or_dependency_runs_in_the_thread_pool(service: str) -> None:
    app = APPS[service]()
    found, routes = [], list(api_routes(app.routes))
    assert len(routes) >= 2
    for route in routes:
        for call in [route.endpoint, *calls(route.dependant)]:
            if not runs_on_the_loop(call):
                found.append(f"{route.path}: {getattr(call, '__qualname__', call)!r}")
    assert found == [], "plain def endpoints or dependencies (thread pool hops)"
