"""The claim route served ahead of FastAPI's dependency solving and response validation, which
cost a claim more than its own work: a request with a brand key this process trusts already
(`brand_auth.VerifiedKeys`), a well-formed share code and a valid JSON body is answered here,
with the same transaction, rules and answers as `brand_api.claim_share`; any other request
(no key, a key not yet trusted, a malformed one) goes on to that route, which answers it as it
answers every request."""

import re
from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from services.coupons import claims
from services.coupons.brand_api import claimed_out
from services.coupons.brand_api import router as brand_router
from services.coupons.brand_auth import VerifiedKeys, key_hash
from services.coupons.claims import ClaimRequest, EmptyPackets
from services.coupons.refusals import NotFound, Refused
from services.coupons.schemas import ClaimIn
from shared.db import transaction
from shared.service import parts_of

PATH = "/v1/packets/{share_code}/claims"
_SHARE_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_JSON = [(b"content-type", b"application/json")]


class ClaimDoor:
    """An ASGI endpoint for POST `PATH`, mounted before the brand API's routes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _body(receive)
        if body is None:
            return  # the client went away
        request = _fast_request(scope, body)
        if request is None:
            await brand_router(scope, _replay(body, receive), send)
            return
        account, claim = request
        status, payload = await _claim(scope, claim, account)
        length = (b"content-length", str(len(payload)).encode())
        await send({"type": "http.response.start", "status": status, "headers": [*_JSON, length]})
        await send({"type": "http.response.body", "body": payload})


def door_router() -> APIRouter:
    """A router of the door alone, to be included before the brand API's."""
    router = APIRouter()
    router.routes.append(Route(PATH, ClaimDoor(), methods=["POST"], include_in_schema=False))
    return router


def _fast_request(scope: Scope, body: bytes) -> tuple[str, ClaimRequest] | None:
    """The trusted account and the claim, or None for the route to answer."""
    app = scope["app"]
    verified: VerifiedKeys = app.state.verified_keys
    headers = dict(scope["headers"])
    scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    account = verified.account_of(key_hash(key)) if scheme.lower() == "bearer" else None
    share_code = scope["path_params"].get("share_code", "")
    json_body = headers.get(b"content-type", b"").startswith(b"application/json")
    if account is None or not json_body or not _SHARE_CODE.fullmatch(share_code):
        return None
    try:
        parsed = ClaimIn.model_validate_json(body)
    except ValidationError:
        return None
    return account, ClaimRequest(
        share_code=share_code, fan_key=parsed.fan_key, phone_sha256=parsed.phone_sha256,
        device_sha256=parsed.device_sha256,
    )  # fmt: skip


async def _claim(scope: Scope, request: ClaimRequest, account: str) -> tuple[int, bytes]:
    """(status, JSON) of the claim: committed before it is answered, as the route's; a claim
    of a packet known to be empty is refused without a transaction."""
    parts = parts_of(scope["app"])
    empty: EmptyPackets = scope["app"].state.empty_packets
    try:
        claims.refuse_known_empty(empty, request, account=account, now=datetime.now(UTC))
        async with transaction(parts.sessionmaker) as session:
            claimed = await claims.claim_share(
                session, request, account=account, outbox=parts.outbox,
                now=datetime.now(UTC), empty=empty,
            )  # fmt: skip
    except NotFound as exc:
        return 404, _detail(str(exc))
    except Refused as refusal:
        return 409, _detail({"code": refusal.code, "message": refusal.message})
    return 201 if claimed.new else 200, claimed_out(claimed).model_dump_json().encode()


def _detail(detail: object) -> bytes:
    return to_json({"detail": detail})


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` as if the body had not been read yet."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed
