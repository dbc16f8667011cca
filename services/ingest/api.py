"""ingest's HTTP surface: the webhooks (read the request, call the intake, map outcomes to status
codes) and the admin API for brand accounts (bearer token ``INGEST_ADMIN_TOKEN``)."""

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from services.ingest import metrics
from services.ingest.accounts import InvalidAccount
from services.ingest.platforms.base import InboundRequest
from services.ingest.schemas import AccountList, AccountOut, Problem
from services.ingest.service import AccountAdmin, AccountConflict, Rejected, WebhookIntake
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


_bearer = HTTPBearer(auto_error=False, description="INGEST_ADMIN_TOKEN")


async def _require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token: SecretStr | None = request.app.state.admin_token
    if token is None:
        raise HTTPException(403, "the admin API is off: set INGEST_ADMIN_TOKEN to turn it on")
    presented = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(presented, token.get_secret_value().encode()):
        raise HTTPException(
            401, "a valid admin bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )


admin_router = APIRouter(
    prefix="/v1/admin/accounts", tags=["admin"], dependencies=[Depends(_require_admin)],
    responses={401: {"description": "no or a wrong bearer token"},
               403: {"description": "the admin API is off"}},
)  # fmt: skip


def _admin(request: Request, platform: str | None = None) -> AccountAdmin:
    if platform is not None and not request.app.state.intake.knows_platform(platform):
        raise HTTPException(404, f"no platform {platform!r}")
    admin: AccountAdmin = request.app.state.account_admin
    return admin


@admin_router.get("", summary="Every brand account, secrets masked")
async def list_accounts(request: Request) -> AccountList:
    return AccountList(accounts=[AccountOut(**view) for view in _admin(request).list()])


@admin_router.get("/{platform}/{account_id}", summary="One brand account, secrets masked")
async def read_account(platform: str, account_id: str, request: Request) -> AccountOut:
    view = _admin(request, platform).get(platform, account_id)
    if view is None:
        raise HTTPException(404, f"no {platform} account {account_id!r}")
    return AccountOut(**view)


@admin_router.put(
    "/{platform}/{account_id}", summary="Create or replace a brand account",
    responses={201: {"description": "created"}, 404: {"description": "no such platform"},
               409: {"description": "configured in the accounts file"},
               422: {"description": "not a valid account for the platform"}},
)  # fmt: skip
async def put_account(
    platform: str, account_id: str, request: Request, response: Response,
    fields: Annotated[dict[str, Any], Body(description="the platform's account fields")],
) -> AccountOut:  # fmt: skip
    admin = _admin(request, platform)
    try:
        view, created = await admin.put(platform, account_id, fields)
    except InvalidAccount as exc:
        raise HTTPException(422, str(exc)) from None
    except AccountConflict as exc:
        raise HTTPException(409, str(exc)) from None
    response.status_code = 201 if created else 200
    return AccountOut(**view)


@admin_router.delete(
    "/{platform}/{account_id}", status_code=204, summary="Delete a brand account",
    responses={404: {"description": "no such account"},
               409: {"description": "configured in the accounts file"}},
)  # fmt: skip
async def delete_account(platform: str, account_id: str, request: Request) -> Response:
    try:
        deleted = await _admin(request, platform).delete(platform, account_id)
    except AccountConflict as exc:
        raise HTTPException(409, str(exc)) from None
    if not deleted:
        raise HTTPException(404, f"no {platform} account {account_id!r}")
    return Response(status_code=204)


async def validation_error_without_input(
    request: Request, exc: Exception
) -> JSONResponse:  # fmt: skip
    """422 saying where and what, never echoing the input: a request here may carry secrets."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 (registered for it only)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)
