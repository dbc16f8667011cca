"""ingest's admin API for brand accounts (bearer token ``INGEST_ADMIN_TOKEN``): thin routes that
parse, call the account service and map its errors. Webhooks do not come through FastAPI's
routing: `services.ingest.webhooks` serves them."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.ingest.accounts import InvalidAccount
from services.ingest.platforms.base import ACCOUNT_ID_PATTERN
from services.ingest.schemas import AccountList, AccountOut
from services.ingest.service import AccountAdmin, AccountConflict
from services.ingest.state import IngestDep, IngestState
from shared.auth import RESPONSES, bearer_guard
from shared.deps import SessionDep

_require_admin = bearer_guard(
    "admin API",
    "INGEST_ADMIN_TOKEN",
    lambda request: IngestState.of(request.app.state).settings.admin_token,
)


router = APIRouter(
    prefix="/v1/admin/accounts", tags=["admin"], dependencies=[Depends(_require_admin)],
    responses=RESPONSES,
)  # fmt: skip


async def _accounts(ingest: IngestDep) -> AccountAdmin:
    return ingest.accounts


async def _platform_accounts(ingest: IngestDep, platform: str) -> AccountAdmin:
    """The account service, for a platform ingest speaks (404 otherwise)."""
    if not ingest.accounts.knows_platform(platform):
        raise HTTPException(404, f"no platform {platform!r}")
    return ingest.accounts


AccountsDep = Annotated[AccountAdmin, Depends(_accounts)]
PlatformAccountsDep = Annotated[AccountAdmin, Depends(_platform_accounts)]
# What no account can be (422): a NUL would reach PostgreSQL, a ":" make fan keys ambiguous.
AccountId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=ACCOUNT_ID_PATTERN,
              description="the account's id: no ':' and no control character"),
]  # fmt: skip
INVALID_ID: dict[int | str, dict[str, Any]] = {422: {"description": "not a possible account id"}}


@router.get("", summary="Every brand account, secrets masked")
async def list_accounts(accounts: AccountsDep) -> AccountList:
    return AccountList(accounts=[AccountOut(**view) for view in accounts.views()])


@router.get(
    "/{platform}/{account_id}", summary="One brand account, secrets masked", responses=INVALID_ID
)
async def read_account(
    platform: str, account_id: AccountId, accounts: PlatformAccountsDep
) -> AccountOut:  # fmt: skip
    view = accounts.get(platform, account_id)
    if view is None:
        raise HTTPException(404, f"no {platform} account {account_id!r}")
    return AccountOut(**view)


@router.put(
    "/{platform}/{account_id}", summary="Create or replace a brand account",
    responses={201: {"description": "created"}, 404: {"description": "no such platform"},
               409: {"description": "configured in the accounts file"},
               422: {"description": "not a valid account for the platform"}},
)  # fmt: skip
async def put_account(
    platform: str, account_id: AccountId, accounts: PlatformAccountsDep, session: SessionDep,
    response: Response,
    fields: Annotated[dict[str, Any], Body(description="the platform's account fields")],
) -> AccountOut:  # fmt: skip
    try:
        view, created = await accounts.put(session, platform, account_id, fields)
    except InvalidAccount as exc:
        raise HTTPException(422, str(exc)) from None
    except AccountConflict as exc:
        raise HTTPException(409, str(exc)) from None
    response.status_code = 201 if created else 200
    return AccountOut(**view)


@router.delete(
    "/{platform}/{account_id}", status_code=204, summary="Delete a brand account",
    responses={404: {"description": "no such account"},
               409: {"description": "configured in the accounts file"}, **INVALID_ID},
)  # fmt: skip
async def delete_account(
    platform: str, account_id: AccountId, accounts: PlatformAccountsDep, session: SessionDep
) -> Response:  # fmt: skip
    try:
        deleted = await accounts.delete(session, platform, account_id)
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
