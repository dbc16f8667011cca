"""POST /v1/packets/{share_code}/claim-links (bearer: a brand API key): the brand's back end,
which knows its signed-in fan, gets a signed claim link for them to open the claim page
with. The link names the packet, the fan (and their phone and device hashes) and an expiry;
nobody can change any of them without breaking its signature."""

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from services.coupons import claim_links, service
from services.coupons.brand_api import ShareCode
from services.coupons.brand_auth import RESPONSES, BrandDep
from services.coupons.claim_links import ClaimLink
from services.coupons.config import CouponsSettings
from services.coupons.refusals import NotFound
from services.coupons.schemas import FanKey, Sha256
from shared.deps import SessionDep
from shared.service import parts_of

router = APIRouter(prefix="/v1", tags=["claims and redemptions"], responses=RESPONSES)


class ClaimLinkIn(BaseModel):
    """The fan the link is for, as the brand authenticated them, and how long it is valid."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "fan_key": "wechat:oa-brand:o6_friend", "phone_sha256": "a" * 64, "valid_seconds": 900,
    }]})  # fmt: skip

    fan_key: FanKey
    phone_sha256: Sha256 | None = None
    device_sha256: Sha256 | None = None
    valid_seconds: int = Field(
        default=900, ge=60, description="up to COUPONS_CLAIM_LINK_MAX_SECONDS (a day)"
    )


class ClaimLinkOut(BaseModel):
    url: str = Field(description="the claim page for the fan: send them there")
    path: str
    expires_at: datetime


def _settings(request: Request) -> CouponsSettings:
    settings = parts_of(request.app).settings
    if not isinstance(settings, CouponsSettings) or settings.claim_link_secret is None:
        raise HTTPException(403, "claim links are off: set COUPONS_CLAIM_LINK_SECRET")
    return settings


@router.post(
    "/packets/{share_code}/claim-links", response_model=ClaimLinkOut, status_code=201,
    responses={404: {"description": "no such packet of the account"},
               403: {"description": "claim links are off"}},
)  # fmt: skip
async def make_claim_link(
    share_code: ShareCode, body: ClaimLinkIn, account: BrandDep, session: SessionDep,
    request: Request,
) -> ClaimLinkOut:  # fmt: skip
    """A signed link to the claim page of the account's packet for the fan."""
    settings = _settings(request)
    if body.valid_seconds > settings.claim_link_max_seconds:
        limit = settings.claim_link_max_seconds
        raise HTTPException(422, f"valid_seconds is at most {limit}")
    try:
        await service.packet_by_code(session, share_code, account=account)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=body.valid_seconds)
    link = ClaimLink(
        account=account, share_code=share_code, claimer=body.fan_key, expires_at=expires,
        phone_sha256=body.phone_sha256, device_sha256=body.device_sha256,
    )  # fmt: skip
    assert settings.claim_link_secret is not None  # noqa: S101 (checked by _settings)
    path = claim_links.path(settings.claim_link_secret.get_secret_value().encode(), link)
    base = settings.public_url or str(request.base_url).rstrip("/")
    return ClaimLinkOut(url=base + path, path=path, expires_at=expires)
