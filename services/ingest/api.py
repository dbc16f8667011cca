"""Webhook endpoints: parse the request, call the intake, map outcomes to status codes."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest import metrics
from services.ingest.platforms import standard
from services.ingest.schemas import Accepted, Problem
from services.ingest.service import Rejected, WebhookIntake
from shared.kafka import BrokerUnavailable

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (400, 401, 404, 413, 503)
}


@router.post("/standard/{account_id}", response_model=Accepted, responses=PROBLEMS)
async def receive_standard_webhook(account_id: str, request: Request) -> JSONResponse:
    intake: WebhookIntake = request.app.state.intake
    headers = {name.lower(): value for name, value in request.headers.items()}
    body = b""
    try:
        body = await _read_body(request, limit=request.app.state.max_body_bytes)
        event_id = await intake.receive_standard(account_id, headers, body)
    except Rejected as rejected:
        metrics.WEBHOOKS.labels(standard.PLATFORM, f"rejected_{rejected.reason}").inc()
        await intake.record_rejection(
            rejected, platform=standard.PLATFORM, account=account_id, headers=headers, body=body
        )
        problem = Problem(detail=rejected.detail, reason=rejected.reason)
        return JSONResponse(problem.model_dump(), status_code=rejected.status_code)
    except BrokerUnavailable:
        metrics.WEBHOOKS.labels(standard.PLATFORM, "broker_unavailable").inc()
        problem = Problem(detail="the event store is unavailable; retry", reason="unavailable")
        return JSONResponse(problem.model_dump(), status_code=503, headers={"Retry-After": "5"})
    metrics.WEBHOOKS.labels(standard.PLATFORM, "accepted").inc()
    return JSONResponse(Accepted(event_id=event_id).model_dump())


async def _read_body(request: Request, *, limit: int) -> bytes:
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
