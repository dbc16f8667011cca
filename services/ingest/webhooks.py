"""The one way a webhook enters ingest: `IngestApp` serves ``/v1/webhooks/{platform}/{account}``
ahead of FastAPI's stack (middleware, routing, dependency solving, Request and Response
objects), which costs more CPU than verifying, normalising and producing a push (make
bench-ingest). Here: read the exact raw bytes, let the intake verify, normalise and produce, and
map its outcome to the answer. Every other path is FastAPI's.

The webhook's HTTP metrics and the handling of an unexpected error are the same as the stack's,
and the path is in the OpenAPI document like any route.
"""

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from services.ingest import metrics
from services.ingest.config import IngestSettings
from services.ingest.platforms.base import InboundRequest, PlatformAnswer
from services.ingest.rejections import Rejected
from services.ingest.schemas import Problem
from services.ingest.state import IngestState
from shared.kafka import BrokerUnavailable
from shared.logging import get_logger
from shared.ops import count_request

log = get_logger(__name__)

WEBHOOK_PATH = "/v1/webhooks/{platform}/{account_id}"
JSON = "application/json"
_METHODS = frozenset({"GET", "POST"})
_WEBHOOK = re.compile(r"/v1/webhooks/([^/]+)/([^/]+)")


class IngestApp(FastAPI):
    """FastAPI, with webhooks served by `serve_webhook` before anything else sees them."""

    _service = IngestSettings.service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _METHODS:
            match = _WEBHOOK.fullmatch(scope["path"])
            if match is not None:
                await self._serve(scope, receive, send, *match.groups())
                return
        await super().__call__(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, platform: str, account_id: str
    ) -> None:  # fmt: skip
        started = time.perf_counter()
        status = 499  # the client went away before an answer (nginx's convention)
        try:
            answer = await serve_webhook(IngestState.of(self.state), platform, account_id,
                                         scope, receive)  # fmt: skip
            if answer is not None:
                status = answer.status_code
                await _answer(send, answer)
        finally:
            count_request(self._service, scope["method"], WEBHOOK_PATH, status, started)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()  # kept as self.openapi_schema: this adds to it once
        schema["paths"][WEBHOOK_PATH] = _webhook_operations()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        return schema


async def serve_webhook(
    state: IngestState, platform: str, account_id: str, scope: Scope, receive: Receive
) -> PlatformAnswer | None:
    """What to answer a webhook (None: the client went away). A bug is logged and answered 500,
    without details."""
    try:
        return await _respond(state, platform, account_id, scope, receive)
    except Exception:
        log.exception("webhook failed", platform=platform[:32])
        return PlatformAnswer(500, b"Internal Server Error")


async def _respond(
    state: IngestState, platform: str, account_id: str, scope: Scope, receive: Receive
) -> PlatformAnswer | None:
    intake = state.intake
    # names arrive lower-cased (the ASGI spec)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    raw_query = scope["query_string"]
    query = (
        dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)) if raw_query else {}
    )
    received_at = datetime.now(UTC)
    body: bytes | None = None  # None: not read
    try:
        destination = intake.destination(platform, account_id)  # before reading the body
        body = await _read_body(receive, headers, state.settings.max_body_bytes)
        inbound = InboundRequest(scope["method"], query, headers, body, received_at)
        return await intake.receive(destination, inbound)
    except Rejected as rejected:
        inbound = InboundRequest(scope["method"], query, headers, body or b"", received_at)
        client = scope.get("client")
        intake.record_rejection(
            rejected, platform=platform, account=account_id, request=inbound,
            source=client[0] if client else "-",
        )  # fmt: skip
        problem = Problem(detail=rejected.detail, reason=rejected.reason)
        # A body left unread (or refused part-way) is not waited for: the connection closes.
        closing = {"Connection": "close"} if body is None and _has_body(headers) else {}
        return PlatformAnswer(
            rejected.status_code, problem.model_dump_json().encode(), JSON, closing
        )
    except BrokerUnavailable:
        metrics.webhook_outcome(intake.platform_label(platform), "broker_unavailable").inc()
        problem = Problem(detail="the event store is unavailable; retry", reason="unavailable")
        return PlatformAnswer(503, problem.model_dump_json().encode(), JSON, {"Retry-After": "5"})
    except _Disconnected:
        return None


class _Disconnected(Exception):
    pass


def _has_body(headers: Mapping[str, str]) -> bool:
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


async def _read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The exact raw bytes (signatures are over them), refusing more than `limit`."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body of {declared} bytes exceeds {limit}")
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks += message.get("body", b"")
        if len(chunks) > limit:
            raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
        if not message.get("more_body", False):
            return bytes(chunks)


async def _answer(send: Send, answer: PlatformAnswer) -> None:
    media_type = answer.media_type
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    headers = [(b"content-length", str(len(answer.body)).encode()),
               (b"content-type", media_type.encode())]  # fmt: skip
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
    ]
    await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _webhook_operations() -> dict[str, Any]:
    """The webhook path's entry in the OpenAPI document."""
    problem = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("platform", "account_id")
    ]
    answers = {
        "400": {"description": "authentic but unreadable, or not this platform's protocol",
                **problem},
        "401": {"description": "not provably from the platform", **problem},
        "404": {"description": "no such platform or account", **problem},
        "413": {"description": "the body exceeds INGEST_MAX_BODY_BYTES", **problem},
        "503": {"description": "the event store is unavailable; retry", **problem},
    }  # fmt: skip

    def operation(method: str, summary: str) -> dict[str, Any]:
        ok = {"200": {"description": "the answer the platform expects"}}
        return {
            "tags": ["webhooks"], "summary": summary, "parameters": parameters,
            "operationId": f"webhook_{method}", "responses": {**ok, **answers},
        }  # fmt: skip

    return {
        "get": operation("get", "A platform's URL verification (handshake)"),
        "post": operation("post", "A platform's push: verified, normalised, produced"),
    }
