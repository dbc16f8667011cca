"""Replays the signature checks cannot see.

An event older than the de-duplication window (`fresh_events`): its claim has been forgotten, so
a replay of a push captured long ago would be produced again. Most platforms' signatures carry no
timestamp (LINE, Meta, Telegram, X, Douyin, sealed WeChat and WeCom pushes), so the event's own
time is what dates it.

A signature that does not cover the body (WeChat's plain mode and URL checks, Weibo: see
`SignsWithoutBody`) would carry any body while its timestamp is fresh. `SeenSignatures`
remembers, in PostgreSQL so that every replica knows, the body each such signature first came
with: the same body again is the platform's retry (accepted, and de-duplicated later as any
retry), another body is refused (401 ``replayed``). The retention janitor forgets a signature
once no timestamp it could carry is fresh (`domain.signature_memory`).
"""

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.config import IngestSettings
from services.ingest.domain import by_age
from services.ingest.platforms.base import (
    InboundRequest,
    PlatformAccount,
    PlatformAdapter,
    SignsWithoutBody,
    VerificationError,
)
from shared.contracts import FanEvent
from shared.db import transaction
from shared.events import CloudEvent
from shared.kafka import BrokerUnavailable
from shared.logging import get_logger

log = get_logger(__name__)


def fresh_events(
    events: Sequence[CloudEvent[FanEvent]], *, platform: str, account: str,
    received_at: datetime, settings: IngestSettings,
) -> Sequence[CloudEvent[FanEvent]]:  # fmt: skip
    """The events no older than the de-duplication window. Those older are skipped with a
    warning, as batched platforms' unreadable items are (refusing the batch would lose the good
    events: the platform retries it as it is); when all are, VerificationError ``stale_event``
    (401 like a stale timestamp: authentic, maybe, but no fresh delivery)."""
    tolerance = timedelta(seconds=settings.webhook_tolerance_seconds)
    window = timedelta(hours=settings.dedupe_window_hours)
    oldest = received_at - window + tolerance
    if all(event.data.occurred_at >= oldest for event in events):
        return events  # the usual case, on every webhook's path: nothing to split
    fresh, stale = by_age(events, received_at=received_at, window=window, skew=tolerance)
    if not fresh:
        raise VerificationError("stale_event", "every event is older than the de-duplication "
                                f"window ({settings.dedupe_window_hours:g} hours)")  # fmt: skip
    metrics.webhook_outcome(platform, "stale").inc(len(stale))
    log.warning("stale webhook events skipped", platform=platform, account=account,
                skipped=len(stale), kept=len(fresh))  # fmt: skip
    return fresh


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
