"""Replies going out: each queued reply is sent through its platform's send API, retried with
exponential backoff on 429/5xx/network errors and never on other 4xx, and its outcome recorded
as a ``reply delivered`` or ``reply failed`` event (through the outbox, in the same transaction).

Sending is at-least-once: a crash between the platform's answer and the commit sends again on
restart, so adapters pass the reply id as an idempotency key where the platform has one.
"""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.accounts import AccountDirectory
from services.ingest.config import IngestSettings
from services.ingest.domain import backoff, reply_status_after
from services.ingest.models import OutboundReply
from services.ingest.platforms.base import ReplySender, SendOutcome
from shared.contracts import FanFields, ReplyDelivered, ReplyFailed, ReplyRequested
from shared.db import after_commit, transaction
from shared.events import CloudEvent, event_id, fan_key
from shared.logging import get_logger
from shared.outbox import Outbox
from shared.periodic import PeriodicTask

log = get_logger(__name__)
SOURCE = "scrm/ingest/outbound"
BATCH = 20


class ReplyDispatcher(PeriodicTask):
    """Sends what is due every `send_poll_seconds`, batch after batch while replies are due.
    Each batch is one transaction: this loop is an edge, like the consumer runner."""

    def __init__(
        self, settings: IngestSettings, *, senders: Mapping[str, ReplySender[Any]],
        accounts: AccountDirectory, sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox, http: httpx.AsyncClient,
    ) -> None:  # fmt: skip
        super().__init__("reply-dispatcher", settings.send_poll_seconds, self._drain)
        self._settings = settings
        self._senders = senders
        self._accounts = accounts
        self._sessionmaker = sessionmaker
        self._outbox = outbox
        self._http = http

    async def dispatch_due(self) -> int:
        """Send every reply that is due now; returns how many were attempted."""
        now = datetime.now(UTC)
        async with transaction(self._sessionmaker) as session:
            due = await repository.lock_due_replies(session, now=now, limit=BATCH)
            outcomes = await asyncio.gather(*(self._attempt(reply) for reply in due))
            for reply, outcome in zip(due, outcomes, strict=True):
                counted_as = await self._record(session, reply, outcome, now=now)
                after_commit(session, metrics.REPLIES.labels(reply.platform, counted_as).inc)
        return len(due)

    async def _drain(self) -> None:
        while not self.stopping and await self.dispatch_due():
            pass

    async def _attempt(self, reply: OutboundReply) -> SendOutcome:
        sender = self._senders.get(reply.platform)
        account = self._accounts.find(reply.platform, reply.account)
        if sender is None:
            return SendOutcome(delivered=False, error=f"{reply.platform} has no send API here")
        if account is None:
            return SendOutcome(
                delivered=False, error=f"no {reply.platform} account {reply.account}"
            )
        base_url = self._settings.send_api_base_urls.get(
            reply.platform, sender.default_send_base_url
        )
        try:
            async with asyncio.timeout(self._settings.send_timeout_seconds):
                return await sender.send(
                    account, _as_request(reply), http=self._http, base_url=base_url
                )
        except (httpx.TransportError, TimeoutError) as exc:
            return SendOutcome(delivered=False, error=repr(exc), retryable=True)
        except Exception as exc:  # one reply's surprise must not undo its batch's outcomes
            log.exception("reply send failed unexpectedly", platform=reply.platform,
                          reply_id=reply.reply_id)  # fmt: skip
            return SendOutcome(
                delivered=False, error=f"{type(exc).__name__} while sending", retryable=True
            )

    async def _record(
        self, session: AsyncSession, reply: OutboundReply, outcome: SendOutcome, *, now: datetime
    ) -> str:
        """Keep the outcome of an attempt; returns it as the metric counts it (delivered,
        failed, retried)."""
        settings = self._settings
        reply.attempts += 1
        reply.last_status_code = outcome.status_code
        reply.last_error = outcome.error
        status = reply_status_after(
            outcome, attempts=reply.attempts, max_attempts=settings.send_max_attempts
        )
        if status == "pending":
            reply.next_attempt_at = now + backoff(
                reply.attempts,
                base=settings.send_retry_base_seconds,
                cap=settings.send_retry_max_seconds,
            )
            return "retried"
        reply.status, reply.finished_at = status, now
        reply.platform_message_id = outcome.platform_message_id if outcome.delivered else None
        await self._outbox.add(session, _outcome_event(reply, outcome, now=now))
        return status


def _as_request(reply: OutboundReply) -> ReplyRequested:
    return ReplyRequested(
        reply_id=reply.reply_id, conversation_id="", platform=reply.platform,
        account=reply.account, user_id=reply.user_id, text=reply.text,
        in_reply_to=reply.in_reply_to,
    )  # fmt: skip


def _outcome_event(
    reply: OutboundReply, outcome: SendOutcome, *, now: datetime
) -> CloudEvent[ReplyDelivered | ReplyFailed]:
    fields: FanFields = {
        "platform": reply.platform, "account": reply.account, "user_id": reply.user_id,
        "occurred_at": now,
    }  # fmt: skip
    data: ReplyDelivered | ReplyFailed = (
        ReplyDelivered(
            **fields, reply_id=reply.reply_id, platform_message_id=outcome.platform_message_id
        )
        if reply.status == "delivered"
        else ReplyFailed(
            **fields,
            reply_id=reply.reply_id,
            status_code=outcome.status_code,
            error=(outcome.error or f"HTTP {outcome.status_code}")[:2000],
        )
    )
    return CloudEvent.of(
        data, id=event_id(SOURCE, data.event_type, reply.reply_id), source=SOURCE,
        subject=fan_key(reply.platform, reply.account, reply.user_id), time=now,
    )  # fmt: skip
