"""Webhook endpoints: read the request, call the intake, map outcomes to status codes."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.ingest import metrics
from services.ingest.platforms.base import InboundRequest
from services.ingest.schemas import Problem
from services.ingest.service import Rejected, WebhookIntake
from shared.kafka import BrokerUnavailable

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (400, 401, 404, 413, 503)
}


@router.api_route(
    "/{platform}/{account_id}", methods=["GET", "POST"], responses=PROBLEMS,
    summary="A platform's webhook: GET for its URL verification, POST for its pushes",
)  # fmt: skip
async def receive_webhook(platform: str, account_id: str, request: Request) -> Response:
    intake: WebhookIntake = request.app.state.intake
    inbound = InboundRequest(
        method=request.method, query=dict(request.query_params),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=b"", received_at=datetime.now(UTC),
    )  # fmt: skip
    try:
        inbound = _with_body(inbound, await _read_body(request, request.app.state.max_body_bytes))
        answer = await intake.receive(platform, account_id, inbound)
    except Rejected as rejected:
        await intake.record_rejection(
            rejected, platform=platform, account=account_id, request=inbound
        )
        problem = Problem(detail=rejected.detail, reason=rejected.reason)
        return JSONResponse(problem.model_dump(), status_code=rejected.status_code)
    except BrokerUnavailable:
        label = platform if intake.knows_platform(platform) else "other"
        metrics.WEBHOOKS.labels(label, "broker_unavailable").inc()
        problem = Problem(detail="the event store is unavailable; retry", reason="unavailable")
        return JSONResponse(problem.model_dump(), status_code=503, headers={"Retry-After": "5"})
    return Response(
        answer.body, status_code=answer.status_code, media_type=answer.media_type,
        headers=dict(answer.headers),
    )  # fmt: skip


def _with_body(request: InboundRequest, body: bytes) -> InboundRequest:
    return InboundRequest(request.method, request.query, request.headers, body, request.received_at)


async def _read_body(request: Request, limit: int) -> bytes:
    """The exact raw bytes (signatures are over them), refusing more than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body of {declared} bytes exceeds {limit}")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
    return bytes(chunks)
