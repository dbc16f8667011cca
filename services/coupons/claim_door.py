"""The claim route served ahead of FastAPI's stack (middleware, routing, dependency solving,
response validation), which cost a claim more than its own work, as ingest serves its webhooks
(`services/ingest/webhooks.py`): a request with a brand key this process trusts already
(`brand_auth.VerifiedKeys`), a well-formed share code and a valid JSON body is answered here,
with the same rules and answers as `brand_api.claim_share`, group-committed with the claims
that came with it (`claim_batches`); any other request (no
key, a key not yet trusted, a malformed one) goes through the stack to that route, which answers
it as it answers every request. The door's requests are counted in the HTTP metrics as the
stack counts the route's, and an unexpected error is logged and answered 500 as the stack
answers it."""

import re
import time

from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.types import Message, Receive, Scope, Send

from services.coupons.brand_api import claimed_out
from services.coupons.brand_auth import VerifiedKeys, key_hash
from services.coupons.claim_batches import ClaimBatches
from services.coupons.claims import ClaimRequest
from services.coupons.config import CouponsSettings
from services.coupons.refusals import NotFound, Refused
from services.coupons.schemas import ClaimIn
from shared.logging import get_logger
from shared.ops import count_request

log = get_logger(__name__)

PATH = "/v1/packets/{share_code}/claims"  # the route's template, as the stack labels it
_PATH = re.compile(r"/v1/packets/([^/]+)/claims")
_SHARE_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_JSON = [(b"content-type", b"application/json")]
MAX_BODY_BYTES = 16 * 1024  # a claim's body is a fan key and two hashes: a few hundred bytes


class CouponsApp(FastAPI):
    """FastAPI, with claims served by the door before anything else sees them."""

    _service = CouponsSettings.service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _PATH.fullmatch(scope["path"])
            if match is not None:
                await self._door(scope, receive, send, match.group(1))
                return
        await super().__call__(scope, receive, send)

    async def _door(self, scope: Scope, receive: Receive, send: Send, share_code: str) -> None:
        started = time.perf_counter()
        try:
            body = await _body(receive)
        except _TooLarge:
            await _answer(send, 413, _detail("body too large"), close=True)
            count_request(self._service, "POST", PATH, 413, started)
            return
        if body is None:  # the client went away
            count_request(self._service, "POST", PATH, 499, started)
            return
        request = self._fast_request(scope, share_code, body)
        if request is None:  # the stack answers, and counts it
            await super().__call__(scope, _replay(body, receive), send)
            return
        account, claim = request
        try:
            status, payload = await self._claim(claim, account)
        except Exception:
            log.exception("claim failed")
            status, payload = 500, _detail("Internal Server Error")
        await _answer(send, status, payload)
        count_request(self._service, "POST", PATH, status, started)

    def _fast_request(
        self, scope: Scope, share_code: str, body: bytes
    ) -> tuple[str, ClaimRequest] | None:
        """The trusted account and the claim, or None for the route to answer."""
        verified: VerifiedKeys = self.state.verified_keys
        headers = dict(scope["headers"])
        scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        account = verified.account_of(key_hash(key)) if scheme.lower() == "bearer" else None
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

    async def _claim(self, request: ClaimRequest, account: str) -> tuple[int, bytes]:
        """(status, JSON) of the claim: committed before it is answered, as the route's, and
        group-committed with the claims that came with it (`claim_batches`)."""
        batches: ClaimBatches = self.state.claim_batches
        try:
            claimed = await batches.claim(request, account)
        except NotFound as exc:
            return 404, _detail(str(exc))
        except Refused as refusal:
            return 409, _detail({"code": refusal.code, "message": refusal.message})
        return 201 if claimed.new else 200, claimed_out(claimed).model_dump_json().encode()


class _TooLarge(Exception):
    pass


async def _answer(send: Send, status: int, payload: bytes, *, close: bool = False) -> None:
    headers = [*_JSON, (b"content-length", str(len(payload)).encode())]
    if close:  # a body left unread is not waited for
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _detail(detail: object) -> bytes:
    return to_json({"detail": detail})


async def _body(receive: Receive) -> bytes | None:
    """The whole body; None when the client went away; `_TooLarge` past MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
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
