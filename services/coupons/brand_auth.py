"""Who calls the claim and redeem API: a brand account, by one of its API keys (made through
the operator API, shown once, kept hashed). A key opens its own account's packets and coupons
only.

A key found in use is trusted by the process for `KEY_TRUST_SECONDS` without asking PostgreSQL
again (a bounded cache of verified key hashes): a revocation takes effect at once in the process
that made it and within that many seconds in the others."""

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import repository
from services.coupons.caches import TtlCache
from services.coupons.models import BrandApiKey
from shared.db import after_commit
from shared.deps import SessionDep

KEY_PREFIX = "scrm_bk_"  # recognisable in a leaked file, as secret scanners look for
_scheme = HTTPBearer(
    auto_error=False,
    description="a brand account's API key (`POST /v1/accounts/{account}/api-keys`)",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)]
KEY_TRUST_SECONDS = 30.0
KEYS_TRUSTED = 1_000
RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "no, a wrong or a revoked brand API key"},
}


class VerifiedKeys:
    """The hashes of keys found in use lately, with their account and id."""

    def __init__(self, *, seconds: float = KEY_TRUST_SECONDS, size: int = KEYS_TRUSTED) -> None:
        self._cache: TtlCache[str, tuple[str, uuid.UUID]] = TtlCache(size=size, seconds=seconds)

    def account_of(self, sha256: str) -> str | None:
        found = self._cache.get(sha256)
        return None if found is None else found[0]

    def trust(self, sha256: str, key: BrandApiKey) -> None:
        self._cache.put(sha256, (key.account, key.id))

    def forget(self, key_id: uuid.UUID) -> None:
        self._cache.drop_where(lambda found: found[1] == key_id)


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
    session: AsyncSession, *, account: str, key_id: uuid.UUID, now: datetime,
    verified: VerifiedKeys | None = None,
) -> bool:  # fmt: skip
    """Whether a key in use was revoked: from now on it opens nothing (in other processes, once
    they stop trusting it: `KEY_TRUST_SECONDS`)."""
    if verified is not None:  # a request that verified it before the commit may trust it again
        after_commit(session, lambda: verified.forget(key_id))
    return await repository.revoke_api_key(session, account=account, key_id=key_id, at=now)


async def verified_keys(request: Request) -> VerifiedKeys:
    keys: VerifiedKeys = request.app.state.verified_keys
    return keys


VerifiedKeysDep = Annotated[VerifiedKeys, Depends(verified_keys)]


async def brand_account(
    session: SessionDep, credentials: Credentials, verified: VerifiedKeysDep
) -> str:
    """The brand account whose key the request carries."""
    if credentials is not None:
        sha256 = key_hash(credentials.credentials)
        account = verified.account_of(sha256)
        if account is not None:
            return account
        found = await repository.api_key_by_hash(session, sha256)
        if found is not None:
            verified.trust(sha256, found)
            return found.account
    raise HTTPException(
        401, "a brand account's API key is required", headers={"WWW-Authenticate": "Bearer"}
    )


BrandDep = Annotated[str, Depends(brand_account)]
