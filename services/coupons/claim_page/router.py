"""The claim page: what a friend opens from a shared red packet, at `/p/{share_code}` with a
signed claim link's fields in the query. The page's own requests carry the same fields; each
is verified (`services.coupons.claim_links`) before anything is read or claimed. No brand API
key reaches the browser."""

import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import claim_links, claims, service
from services.coupons.api import refused
from services.coupons.claim_links import LINK_MESSAGES, ClaimLink, LinkRefused
from services.coupons.claim_page.view import PageOut, page_out
from services.coupons.claims import ClaimRequest
from services.coupons.config import CouponsSettings
from services.coupons.models import Packet
from services.coupons.refusals import NotFound, Refused
from shared.deps import PartsDep, SessionDep
from shared.service import parts_of

STATIC = Path(__file__).parent / "static"
ASSETS = {"claim.js": "text/javascript", "claim.css": "text/css", "favicon.svg": "image/svg+xml"}
SHARE_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
LINK_STATUS = {"link_malformed": 400, "link_forged": 403, "link_expired": 410}
OFF = "the claim page is off: set COUPONS_CLAIM_LINK_SECRET to turn it on"
NO_PACKET = "there is no such red packet"
# Only the page's own files run and load. The link's fields are in the address: no referrer
# carries them elsewhere, and no cache keeps them.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "`link_malformed`: a field of the link is missing or not of its form"},
    403: {"description": "`link_forged`: the signature does not match (or the page is off)"},
    404: {"description": "no such packet for the link's brand account"},
    410: {"description": "`link_expired`: the link's time is up"},
}

router = APIRouter(tags=["claim page"], responses=RESPONSES)


def _now() -> datetime:
    return datetime.now(UTC)


def _secret(request: Request) -> bytes | None:
    settings = parts_of(request.app).settings
    if not isinstance(settings, CouponsSettings) or settings.claim_link_secret is None:
        return None
    return settings.claim_link_secret.get_secret_value().encode()


def _verified(request: Request, share_code: str, secret: bytes) -> ClaimLink:
    if SHARE_CODE.fullmatch(share_code) is None:
        raise LinkRefused("link_malformed")
    params = {name: request.query_params[name] for name in claim_links.FIELDS
              if name in request.query_params}  # fmt: skip
    return claim_links.verify(secret, share_code, params, now=_now())


async def claim_link(request: Request, share_code: str) -> ClaimLink:
    """The signed link the request carries, verified; refused with its code otherwise."""
    secret = _secret(request)
    if secret is None:
        raise HTTPException(403, {"code": "page_off", "message": OFF})
    try:
        return _verified(request, share_code, secret)
    except LinkRefused as refusal:
        detail = {"code": refusal.code, "message": LINK_MESSAGES[refusal.code]}
        raise HTTPException(LINK_STATUS[refusal.code], detail, headers=HEADERS) from None


LinkDep = Annotated[ClaimLink, Depends(claim_link)]


async def _packet(session: AsyncSession, link: ClaimLink) -> Packet:
    try:
        return await service.packet_by_code(session, link.share_code, account=link.account)
    except NotFound:
        raise HTTPException(404, {"code": "no_packet", "message": NO_PACKET}) from None


def refusal_page(status: int, message: str) -> HTMLResponse:
    """A page of its own for a link that opens nothing: what is wrong, in words."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Red packet</title><link rel="stylesheet" href="/claim-page/claim.css"></head>'
        '<body><main class="card refused-page"><h1>This link does not open a red packet</h1>'
        f'<p class="refusal" role="alert">{html.escape(message)}</p></main></body></html>'
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)


@router.get("/p/{share_code}", response_class=HTMLResponse, include_in_schema=False)
async def claim_page(share_code: str, request: Request, session: SessionDep) -> Response:
    secret = _secret(request)
    if secret is None:
        return refusal_page(403, OFF)
    try:
        link = _verified(request, share_code, secret)
        await service.packet_by_code(session, link.share_code, account=link.account)
    except LinkRefused as refusal:
        return refusal_page(LINK_STATUS[refusal.code], LINK_MESSAGES[refusal.code])
    except NotFound:
        return refusal_page(404, NO_PACKET)
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/claim-page/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no claim page asset {name}")
    headers = {**HEADERS, "Cache-Control": "no-cache"}
    return FileResponse(STATIC / name, media_type=media_type, headers=headers)


@router.get("/p/{share_code}/view", response_model=PageOut)
async def read_page(link: LinkDep, session: SessionDep, response: Response) -> PageOut:
    """What the page shows the link's claimer: the packet, its friends, their own share."""
    packet = await _packet(session, link)
    response.headers.update(HEADERS)
    return await page_out(session, await service.packet_page(session, packet), link, now=_now())


@router.post(
    "/p/{share_code}/claims", response_model=PageOut, status_code=201,
    responses={409: {"description": "refused: a claim refusal's code and message"},
               200: {"description": "claimed before: the same claim"}},
)  # fmt: skip
async def claim_from_page(
    link: LinkDep, session: SessionDep, parts: PartsDep, response: Response
) -> PageOut:
    """Claim a share for the link's claimer (the claim API's rules, refusals and answer when
    asked again), answered with what the page shows after it."""
    request = ClaimRequest(
        share_code=link.share_code, fan_key=link.claimer, phone_sha256=link.phone_sha256,
        device_sha256=link.device_sha256,
    )  # fmt: skip
    now = _now()
    try:
        claimed = await claims.claim_share(
            session, request, account=link.account, outbox=parts.outbox, now=now
        )
    except NotFound:
        raise HTTPException(404, {"code": "no_packet", "message": NO_PACKET}) from None
    except Refused as refusal:
        refused(refusal)
    response.status_code = 201 if claimed.new else 200
    response.headers.update(HEADERS)
    packet = await _packet(session, link)
    return await page_out(session, await service.packet_page(session, packet), link, now=now)
