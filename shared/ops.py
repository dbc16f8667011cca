"""What every service exposes for operators: /healthz, /readyz, /metrics, and HTTP metrics."""

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT_SECONDS = 3.0


def ops_router(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """`checks` is called per request, so it can read components built by the lifespan."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        named = checks()
        outcomes = await asyncio.gather(*(_run_check(check) for check in named.values()))
        results = dict(zip(named, outcomes, strict=True))
        ready = bool(results) and all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"failing: {type(exc).__name__}"
    return "ok"


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# children bound once: a door's label values are a closed set (its route template and methods)
_requests = functools.cache(metrics.HTTP_REQUESTS.labels)
_duration = functools.cache(metrics.HTTP_DURATION.labels)


def count_request(service: str, method: str, template: str, status: int, started: float) -> None:
    """What `HttpMetricsMiddleware` records, for a route served ahead of the stack (a door):
    `started` is the request's `time.perf_counter()`."""
    _requests(service, method, template, str(status)).inc()
    _duration(service, method, template).observe(time.perf_counter() - started)


class HttpMetricsMiddleware:
    """Counts and times requests by route template, never by raw path (bounded labels)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except BaseException:
            status = status or 500
            raise
        finally:
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            # 499: the client went away before an answer (nginx's convention)
            metrics.HTTP_REQUESTS.labels(self.service, method, route, str(status or 499)).inc()
            metrics.HTTP_DURATION.labels(self.service, method, route).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    """The matched route's path template: the router leaves the route in the scope."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched")) if route is not None else "unmatched"
