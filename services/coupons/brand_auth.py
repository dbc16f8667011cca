"""Who calls the claim and redeem API: a brand account, by one of its API keys (made through
the operator API, shown once, kept hashed). A key opens its own account's packets and coupons
only."""

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import repository
from services.coupons.models import BrandApiKey
from shared.deps import SessionDep

KEY_PREFIX = "scrm_bk_"  # recognisable in a leaked file, as secret scanners look for
_scheme = HTTPBearer(
    auto_error=False,
    description="a brand account's API key (`POST /v1/accounts/{account}/api-keys`)",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)]
RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "no, a wrong or a revoked brand API key"},
}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    session: AsyncSession, *, account: str, name: str, now: datetime
) -> tuple[BrandApiKey, str]:
    """A new key of the account; returns it with the key itself, which is not kept."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = BrandApiKey(
        id=uuid.uuid4(), account=account, name=name, key_sha256=key_hash(key), created_at=now
    )
    await repository.add_api_key(session, row)
    return row, key


async def list_keys(session: AsyncSession, account: str) -> Sequence[BrandApiKey]:
    return await repository.api_keys(session, account)


async def revoke_key(
    session: AsyncSession, *, account: str, key_id: uuid.UUID, now: datetime
) -> bool:
    """Whether a key in use was revoked: from now on it opens nothing."""
    return await repository.revoke_api_key(session, account=account, key_id=key_id, at=now)


async def brand_account(session: SessionDep, credentials: Credentials) -> str:
    """The brand account whose key the request carries."""
    found = None
    if credentials is not None:
        found = await repository.api_key_by_hash(session, key_hash(credentials.credentials))
    if found is None:
        raise HTTPException(
            401, "a brand account's API key is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return found.account


BrandDep = Annotated[str, Depends(brand_account)]
