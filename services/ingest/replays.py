"""Replays the signature checks cannot see.

A signature that does not cover the body (WeChat's plain mode and URL checks, Weibo: see
`SignsWithoutBody`) would carry any body while its timestamp is fresh. `SeenSignatures`
remembers, in PostgreSQL so that every replica knows, the body each such signature first came
with: the same body again is the platform's retry (accepted, and de-duplicated later as any
retry), another body is refused (401 ``replayed``). The retention janitor forgets a signature
once no timestamp it could carry is fresh (`domain.signature_memory`).
"""

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import repository
from services.ingest.platforms.base import (
    InboundRequest,
    PlatformAccount,
    PlatformAdapter,
    SignsWithoutBody,
    VerificationError,
)
from shared.db import transaction
from shared.kafka import BrokerUnavailable


class SeenSignatures:
    def __init__(
        self, adapters: Mapping[str, PlatformAdapter[Any]],
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        self._signers: dict[str, SignsWithoutBody[Any]] = {
            platform: adapter
            for platform, adapter in adapters.items()
            if isinstance(adapter, SignsWithoutBody)
        }
        self._sessionmaker = sessionmaker

    async def check(self, platform: str, account: PlatformAccount, request: InboundRequest) -> None:
        """For a request its adapter has verified: VerificationError ``replayed`` if its
        signature does not cover the body and came with another one; BrokerUnavailable (503,
        the platform retries) if PostgreSQL does not answer."""
        signer = self._signers.get(platform)
        signature = signer.signed_without_body(account, request) if signer else None
        if signature is None:
            return
        body = hashlib.sha256(request.body).hexdigest()
        first = await self._remember(platform, account.account_id, signature, body)
        if first != body:
            raise VerificationError(
                "replayed", "this signature was seen with another body: a replay"
            )

    async def _remember(self, platform: str, account: str, signature: str, body: str) -> str:
        try:
            async with (
                asyncio.timeout(repository.CLAIM_TIMEOUT),
                transaction(self._sessionmaker) as session,
            ):
                return await repository.remember_signature(
                    session, platform=platform, account=account, signature=signature,
                    body_sha256=body,
                )  # fmt: skip
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"seen signatures unavailable: {exc!r}") from exc
