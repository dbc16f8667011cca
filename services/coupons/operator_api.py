"""The operator API (bearer `COUPONS_OPERATOR_TOKEN`): campaigns, packets issued by hand,
and the brand accounts' API keys for the claim and redeem API."""

import random
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from services.coupons import campaigns, service
from services.coupons.api import NOT_FOUND, REFUSED, campaign_out, packet_out
from services.coupons.brand_auth import VerifiedKeysDep, create_key, list_keys, revoke_key
from services.coupons.campaigns import BudgetTooLow, CampaignChange, CampaignInUse, NewCampaign
from services.coupons.config import CouponsSettings
from services.coupons.refusals import MESSAGES, NotFound
from services.coupons.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    PacketIssueIn,
    PacketOut,
)
from services.coupons.service import NotIssued, PacketRequest
from shared.auth import RESPONSES, bearer_guard
from shared.deps import IdInPath, PartsDep, SessionDep
from shared.service import parts_of


def _operator_token(request: Request) -> SecretStr | None:
    settings = parts_of(request.app).settings
    return settings.operator_token if isinstance(settings, CouponsSettings) else None


_require_operator = bearer_guard("operator API", "COUPONS_OPERATOR_TOKEN", _operator_token)
require_operator = _require_operator  # for the operator routes of other modules
router = APIRouter(
    prefix="/v1", tags=["operator"], dependencies=[Depends(_require_operator)],
    responses=RESPONSES,
)  # fmt: skip


async def _rng() -> random.Random:
    # async: a plain def dependency would cost every request a hop to the thread pool
    return service.secure_rng()


RngDep = Annotated[random.Random, Depends(_rng)]
Account = Annotated[str | None, Query(min_length=1, max_length=200)]


def _now() -> datetime:
    return datetime.now(UTC)


async def _campaign(session: SessionDep, campaign_id: uuid.UUID) -> CampaignOut:
    try:
        campaign = await campaigns.get(session, campaign_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return campaign_out(campaign, await campaigns.budget(session, campaign))


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
async def create_campaign(body: CampaignIn, session: SessionDep) -> CampaignOut:
    """A campaign, its whole budget not in any packet yet."""
    new = NewCampaign(
        account=body.account, name=body.name, currency=body.currency,
        budget_cents=body.budget_cents, budget_slices=body.budget_slices,
        time_zone=body.time_zone, terms=body.terms, status=body.status,
    )  # fmt: skip
    campaign = await campaigns.create(session, new, now=_now())
    return campaign_out(campaign, await campaigns.budget(session, campaign))


@router.get("/campaigns", response_model=list[CampaignOut])
async def list_campaigns(session: SessionDep, account: Account = None) -> list[CampaignOut]:
    found = await campaigns.list_all(session, account=account)
    return [campaign_out(item, await campaigns.budget(session, item)) for item in found]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=NOT_FOUND)
async def read_campaign(campaign_id: uuid.UUID, session: SessionDep) -> CampaignOut:
    """The campaign with its budget: the total, what no packet holds, what packets hold."""
    return await _campaign(session, campaign_id)


@router.patch(
    "/campaigns/{campaign_id}", response_model=CampaignOut,
    responses={**NOT_FOUND, 409: {"description": "the budget lowered under what is issued"}},
)  # fmt: skip
async def change_campaign(
    campaign_id: uuid.UUID, body: CampaignPatch, session: SessionDep
) -> CampaignOut:
    """Rename, pause (no new packets), end (no new packets, no claims), change the terms of
    packets to come, or raise or lower the budget."""
    change = CampaignChange(
        name=body.name, status=body.status, budget_cents=body.budget_cents, terms=body.terms
    )
    try:
        await campaigns.change(session, campaign_id, change, now=_now())
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except BudgetTooLow as exc:
        raise HTTPException(409, str(exc)) from None
    return await _campaign(session, campaign_id)


@router.delete(
    "/campaigns/{campaign_id}", status_code=204,
    responses={**NOT_FOUND, 409: {"description": "the campaign issued packets: end it"}},
)  # fmt: skip
async def delete_campaign(campaign_id: uuid.UUID, session: SessionDep) -> Response:
    try:
        await campaigns.delete(session, campaign_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except CampaignInUse as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


@router.post(
    "/campaigns/{campaign_id}/packets", response_model=PacketOut, status_code=201,
    responses={**NOT_FOUND, **REFUSED, 200: {"description": "issued before for this order"}},
)  # fmt: skip
async def issue_packet(
    campaign_id: uuid.UUID, body: PacketIssueIn, session: SessionDep, parts: PartsDep,
    rng: RngDep, response: Response,
) -> PacketOut | JSONResponse:  # fmt: skip
    """Issue a packet by hand, charging the budget; once per order. Refused (409, kept) with:
    `campaign_not_active`, `currency_mismatch`, `order_amount_unknown`, `below_minimum_total`,
    `budget_exhausted`."""
    try:
        campaign = await campaigns.get(session, campaign_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    request = PacketRequest(
        order_id=body.order_id or f"manual:{uuid.uuid4()}", owner_fan_key=body.owner_fan_key,
        order_cents=body.order_cents, currency=body.currency,
        owner_phone_sha256=body.owner_phone_sha256, owner_device_sha256=body.owner_device_sha256,
    )  # fmt: skip
    issued = await service.issue_packet(
        session, campaign, request, outbox=parts.outbox, rng=rng, now=_now()
    )
    if isinstance(issued, NotIssued):  # answered, not raised: the refusal is kept
        refusal = {"code": issued.code, "message": MESSAGES[issued.code]}
        return JSONResponse({"detail": refusal}, status_code=409)
    response.status_code = 201 if issued.new else 200
    return packet_out(await service.packet_page(session, issued.packet))


@router.get(
    "/campaigns/{campaign_id}/packets/{packet_id}", response_model=PacketOut, responses=NOT_FOUND
)
async def read_packet(
    campaign_id: uuid.UUID, packet_id: uuid.UUID, session: SessionDep
) -> PacketOut:
    """The packet, its claims in claim order with their amounts, and the best luck."""
    try:
        packet = await service.packet_of_campaign(session, campaign_id, packet_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return packet_out(await service.packet_page(session, packet))


@router.post("/accounts/{account}/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_api_key(account: IdInPath, body: ApiKeyIn, session: SessionDep) -> ApiKeyCreated:
    """A key for the brand account's claim page and checkout; shown this once."""
    row, key = await create_key(session, account=account, name=body.name, now=_now())
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)


@router.get("/accounts/{account}/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(account: IdInPath, session: SessionDep) -> list[ApiKeyOut]:
    rows = await list_keys(session, account)
    return [ApiKeyOut.model_validate(row) for row in rows]


@router.delete("/accounts/{account}/api-keys/{key_id}", status_code=204, responses=NOT_FOUND)
async def revoke_api_key(
    account: IdInPath, key_id: uuid.UUID, session: SessionDep, verified: VerifiedKeysDep
) -> Response:
    revoked = await revoke_key(
        session, account=account, key_id=key_id, now=_now(), verified=verified
    )
    if not revoked:
        raise HTTPException(404, f"no key {key_id} of {account} in use")
    return Response(status_code=204)
