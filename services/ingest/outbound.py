"""Replies going out: each queued reply is sent through its platform's send API, retried with
exponential backoff on 429/5xx/network errors and never on other 4xx, and its outcome recorded
as a ``reply delivered`` or ``reply failed`` event (through the outbox, in the same transaction).

Sending is at-least-once: a crash between the platform's answer and the commit sends again on
restart, so adapters pass the reply id as an idempotency key where the platform has one.
"""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.accounts import AccountDirectory
from services.ingest.config import IngestSettings
from services.ingest.models import OutboundReply
from services.ingest.platforms.base import SendOutcome
from shared.contracts import ReplyDelivered, ReplyFailed, ReplyRequested
from shared.events import CloudEvent, event_id, fan_key
from shared.logging import get_logger
from shared.outbox import Outbox
from shared.periodic import PeriodicTask

log = get_logger(__name__)
SOURCE = "scrm/ingest/outbound"
BATCH = 20


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2·base, 4·base… capped."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


class ReplyDispatcher(PeriodicTask):
    """Sends what is due every `send_poll_seconds`, batch after batch while replies are due."""

    def __init__(
        self, settings: IngestSettings, *, adapters: Mapping[str, Any], accounts: AccountDirectory,
        sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, http: httpx.AsyncClient,
    ) -> None:  # fmt: skip
        super().__init__("reply-dispatcher", settings.send_poll_seconds, self._drain)
        self._settings = settings
        self._adapters = adapters
        self._accounts = accounts
        self._sessionmaker = sessionmaker
        self._outbox = outbox
        self._http = http

    async def dispatch_due(self) -> int:
        """Send every reply that is due now; returns how many were attempted."""
        now = datetime.now(UTC)
        async with self._sessionmaker() as session, session.begin():
            due = await repository.lock_due_replies(session, now=now, limit=BATCH)
            outcomes = await asyncio.gather(*(self._attempt(reply) for reply in due))
            for reply, outcome in zip(due, outcomes, strict=True):
                await self._record(session, reply, outcome, now=now)
        return len(due)

    async def _drain(self) -> None:
        while not self.stopping and await self.dispatch_due():
            pass

    async def _attempt(self, reply: OutboundReply) -> SendOutcome:
        adapter = self._adapters.get(reply.platform)
        account = self._accounts.find(reply.platform, reply.account)
        if adapter is None or not hasattr(adapter, "send"):
            return SendOutcome(delivered=False, error=f"{reply.platform} has no send API here")
        if account is None:
            return SendOutcome(
                delivered=False, error=f"no {reply.platform} account {reply.account}"
            )
        base_url = self._settings.send_api_base_urls.get(
            reply.platform, adapter.default_send_base_url
        )
        try:
            async with asyncio.timeout(self._settings.send_timeout_seconds):
                outcome: SendOutcome = await adapter.send(
                    account, _as_request(reply), http=self._http, base_url=base_url
                )
        except (httpx.TransportError, TimeoutError) as exc:
            outcome = SendOutcome(delivered=False, error=repr(exc), retryable=True)
        except Exception as exc:  # one reply's surprise must not undo its batch's outcomes
            log.exception("reply send failed unexpectedly", platform=reply.platform,
                          reply_id=reply.reply_id)  # fmt: skip
            outcome = SendOutcome(
                delivered=False, error=f"{type(exc).__name__} while sending", retryable=True
            )
        return outcome

    async def _record(
        self, session: AsyncSession, reply: OutboundReply, outcome: SendOutcome, *, now: datetime
    ) -> None:
        reply.attempts += 1
        reply.last_status_code = outcome.status_code
        reply.last_error = outcome.error
        settings = self._settings
        if outcome.delivered:
            reply.status, reply.finished_at = "delivered", now
            reply.platform_message_id = outcome.platform_message_id
        elif outcome.retryable and reply.attempts < settings.send_max_attempts:
            reply.next_attempt_at = now + backoff(
                reply.attempts,
                base=settings.send_retry_base_seconds,
                cap=settings.send_retry_max_seconds,
            )
            metrics.REPLIES.labels(reply.platform, "retried").inc()
            return
        else:
            reply.status, reply.finished_at = "failed", now
        metrics.REPLIES.labels(reply.platform, reply.status).inc()
        await self._outbox.add(session, _outcome_event(reply, outcome, now=now))


def _as_request(reply: OutboundReply) -> ReplyRequested:
    return ReplyRequested.model_validate(
        {
            "reply_id": reply.reply_id,
            "conversation_id": "",
            "platform": reply.platform,
            "account": reply.account,
            "user_id": reply.user_id,
            "text": reply.text,
            "in_reply_to": reply.in_reply_to,
        }
    )


def _outcome_event(reply: OutboundReply, outcome: SendOutcome, *, now: datetime) -> CloudEvent[Any]:
    common: dict[str, Any] = {
        "platform": reply.platform, "account": reply.account, "user_id": reply.user_id,
        "occurred_at": now, "reply_id": reply.reply_id,
    }  # fmt: skip
    data: ReplyDelivered | ReplyFailed = (
        ReplyDelivered(**common, platform_message_id=outcome.platform_message_id)
        if reply.status == "delivered"
        else ReplyFailed(
            **common,
            status_code=outcome.status_code,
            error=(outcome.error or f"HTTP {outcome.status_code}")[:2000],
        )
    )
    return CloudEvent.of(
        data, id=event_id(SOURCE, data.event_type, reply.reply_id), source=SOURCE,
        subject=fan_key(reply.platform, reply.account, reply.user_id), time=now,
    )  # fmt: skip
