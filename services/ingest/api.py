"""ingest's HTTP surface: the webhooks (read the request, call the intake, map outcomes to status
codes) and the admin API for brand accounts (bearer token ``INGEST_ADMIN_TOKEN``)."""

import functools
import hmac
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from services.ingest import metrics
from services.ingest.accounts import InvalidAccount
from services.ingest.config import IngestSettings
from services.ingest.platforms.base import InboundRequest, PlatformAnswer
from services.ingest.schemas import AccountList, AccountOut, Problem
from services.ingest.service import AccountAdmin, AccountConflict, Rejected, WebhookIntake
from shared import metrics as shared_metrics
from shared.kafka import BrokerUnavailable
from shared.logging import get_logger

log = get_logger(__name__)

WEBHOOK_PATH = "/v1/webhooks/{platform}/{account_id}"
router = APIRouter(tags=["webhooks"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (400, 401, 404, 413, 503)
}


@router.api_route(
    WEBHOOK_PATH, methods=["GET", "POST"], responses=PROBLEMS,
    summary="A platform's webhook: GET for its URL verification, POST for its pushes",
)  # fmt: skip
async def receive_webhook(platform: str, account_id: str, request: Request) -> Response:
    """With the fast path on (the default) requests never reach this function: `IngestApp`
    serves them. With it off, FastAPI routes them here, and the answer is the same."""
    return _Served(request.app.state, platform, account_id)


class _Served(Response):
    def __init__(self, state: State, platform: str, account_id: str) -> None:
        super().__init__()
        self._webhook = (state, platform, account_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await respond(*self._webhook, scope, receive)
        if answer is not None:
            await _answer(send, answer)


class IngestApp(FastAPI):
    """FastAPI, except for webhooks when `webhook_fast_path` is on: those are served ahead of
    its whole stack (middleware, routing, dependency solving, Request and Response objects),
    which costs more CPU than verifying, normalising and producing a push (make bench-ingest).
    Their HTTP metrics and the handling of an unexpected error are the same as the stack's."""

    webhook_fast_path = False
    _service = IngestSettings.service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.webhook_fast_path and scope["type"] == "http" and scope["method"] in _METHODS:
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
            answer = await respond(self.state, platform, account_id, scope, receive)
            if answer is not None:
                status = answer.status_code
                await _answer(send, answer)
        finally:
            method = scope["method"]
            _requests(self._service, method, WEBHOOK_PATH, str(status)).inc()
            _duration(self._service, method, WEBHOOK_PATH).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "POST"})
_WEBHOOK = re.compile(r"/v1/webhooks/([^/]+)/([^/]+)")
# children bound once: the label values are a closed set (the route template, two methods)
_requests = functools.cache(shared_metrics.HTTP_REQUESTS.labels)
_duration = functools.cache(shared_metrics.HTTP_DURATION.labels)


async def respond(
    state: State, platform: str, account_id: str, scope: Scope, receive: Receive
) -> PlatformAnswer | None:
    """Read the exact raw bytes, let the intake verify, normalise and produce, and say what to
    answer (None: the client went away). A bug is logged and answered 500, without details."""
    try:
        return await _respond(state, platform, account_id, scope, receive)
    except Exception:
        log.exception("webhook failed", platform=platform[:32])
        return PlatformAnswer(500, b"Internal Server Error")


async def _respond(
    state: State, platform: str, account_id: str, scope: Scope, receive: Receive
) -> PlatformAnswer | None:
    intake: WebhookIntake = state.intake
    # names arrive lower-cased (the ASGI spec)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    raw_query = scope["query_string"]
    query = (
        dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)) if raw_query else {}
    )
    received_at = datetime.now(UTC)
    body = b""
    try:
        body = await _read_body(receive, headers, state.max_body_bytes)
        inbound = InboundRequest(scope["method"], query, headers, body, received_at)
        return await intake.receive(platform, account_id, inbound)
    except Rejected as rejected:
        inbound = InboundRequest(scope["method"], query, headers, body, received_at)
        await intake.record_rejection(
            rejected, platform=platform, account=account_id, request=inbound
        )
        problem = Problem(detail=rejected.detail, reason=rejected.reason)
        return PlatformAnswer(rejected.status_code, problem.model_dump_json().encode(), JSON)
    except BrokerUnavailable:
        label = platform if intake.knows_platform(platform) else "other"
        metrics.webhook_outcome(label, "broker_unavailable").inc()
        problem = Problem(detail="the event store is unavailable; retry", reason="unavailable")
        return PlatformAnswer(503, problem.model_dump_json().encode(), JSON, {"Retry-After": "5"})
    except _Disconnected:
        return None


JSON = "application/json"


class _Disconnected(Exception):
    pass


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


_bearer = HTTPBearer(auto_error=False, description="INGEST_ADMIN_TOKEN")


async def _require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token: SecretStr | None = request.app.state.admin_token
    if token is None:
        raise HTTPException(403, "the admin API is off: set INGEST_ADMIN_TOKEN to turn it on")
    presented = credentials.credentials.encode() if credentials else b""
    if not presented or not hmac.compare_digest(presented, token.get_secret_value().encode()):
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
    return AccountList(accounts=[AccountOut(**view) for view in _admin(request).views()])


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
