"""The intake, the same for every platform: find the account, let its adapter verify and
normalise, drop what was already received, produce (``acks=all``), then answer as the platform
expects. Refusals are recorded on ``scrm.ingest.rejected.v1``."""

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.accounts import (
    AccountDirectory,
    InvalidAccount,
    SecretBox,
    Source,
    account_view,
    parse_account,
)
from services.ingest.config import IngestSettings
from services.ingest.domain import redact_headers, redact_query
from services.ingest.group_commit import GroupCommitter
from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    PlatformAccount,
    PlatformAdapter,
    PlatformAnswer,
    VerificationError,
    verify_push,
)
from services.ingest.replays import SeenSignatures, fresh_events
from shared.contracts import FanEvent, IngestRejected
from shared.db import after_commit
from shared.events import CloudEvent
from shared.kafka import BrokerUnavailable, EventProducer
from shared.logging import get_logger

log = get_logger(__name__)


class Rejected(Exception):
    def __init__(self, status_code: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


class WebhookIntake:
    def __init__(
        self,
        settings: IngestSettings,
        adapters: Mapping[str, PlatformAdapter[Any]],
        accounts: AccountDirectory,
        producer: EventProducer,
        committer: GroupCommitter,
        seen: SeenSignatures,
    ) -> None:
        self._settings = settings
        self._seen = seen
        self._adapters = adapters
        self._accounts = accounts
        self._producer = producer
        self._committer = committer
        # Every platform's secrets, whatever the path said: a forged request may carry another
        # platform's signature, or name no platform at all.
        self._secret_headers = frozenset[str]().union(
            *(a.secret_headers for a in adapters.values())
        )
        self._secret_query = frozenset[str]().union(*(a.secret_query for a in adapters.values()))

    def knows_platform(self, platform: str) -> bool:
        return platform in self._adapters

    async def receive(
        self, platform: str, account_id: str, request: InboundRequest
    ) -> PlatformAnswer:
        """Raises Rejected (4xx) or BrokerUnavailable (503); never anything else by design."""
        adapter = self._adapters.get(platform)
        if adapter is None:
            raise Rejected(404, "unsupported", f"no platform {platform!r}")
        account = self._accounts.find(platform, account_id)
        if account is None:
            raise Rejected(404, "unknown_account", f"no {platform} account {account_id!r}")
        try:
            if request.method == "GET":
                metrics.webhook_outcome(platform, "handshake").inc()
                answer = adapter.handshake(account, request)
                await self._seen.check(platform, account, request)
                return answer
            authentic = verify_push(adapter, account, request)
            await self._seen.check(platform, account, request)
        except VerificationError as exc:
            status = 400 if exc.reason == "unsupported" else 401
            raise Rejected(status, exc.reason, str(exc)) from exc
        try:
            events = fresh_events(
                adapter.normalise(account, authentic), platform=platform, account=account_id,
                received_at=request.received_at, settings=self._settings,
            )  # fmt: skip
        except MalformedPayload as exc:
            raise Rejected(400, "malformed", str(exc)[:1000]) from exc
        except VerificationError as exc:  # stale_event: 401, as a stale timestamp is
            raise Rejected(401, exc.reason, str(exc)) from exc
        await self._produce_new(platform, account_id, events)
        return adapter.acknowledge(account, request, events)

    async def _produce_new(
        self, platform: str, account_id: str, events: Sequence[CloudEvent[FanEvent]]
    ) -> None:
        if not events:
            metrics.webhook_outcome(platform, "ignored").inc()
            return
        started = time.perf_counter()
        new_ids = await self._committer.submit(platform, account_id, events)
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        metrics.webhook_outcome(platform, "accepted").inc(len(new_ids))
        metrics.webhook_outcome(platform, "duplicate").inc(len(events) - len(new_ids))

    async def record_rejection(
        self, rejected: Rejected, *, platform: str, account: str | None, request: InboundRequest
    ) -> None:
        """Best effort: a broker outage must not turn a 4xx into a 5xx, so it is logged instead."""
        metrics.webhook_outcome(
            _bounded(platform, self._adapters), f"rejected_{rejected.reason}"
        ).inc()
        limit = self._settings.rejected_excerpt_bytes
        headers = redact_headers(request.headers, self._secret_headers)
        if request.query:
            redacted = redact_query(request.query, self._secret_query)
            headers["query"] = "&".join(f"{k}={v}" for k, v in redacted.items())
        record = IngestRejected(
            platform=platform[:32], account=account[:200] if account else None,
            reason=rejected.reason,
            status_code=rejected.status_code, detail=rejected.detail[:1000],
            received_at=request.received_at, request_headers=headers,
            body_excerpt=request.body[:limit].decode("utf-8", "replace"),
            body_size=len(request.body),
        )  # fmt: skip
        source = "scrm/ingest"
        event = CloudEvent.of(
            record, id=str(uuid.uuid4()),  # every refused request is its own record
            source=source, subject=f"{platform}:{account or '-'}:-",
        )  # fmt: skip
        try:
            await self._producer.publish(event)
        except BrokerUnavailable:
            log.error("rejection not recorded on Kafka", reason=rejected.reason, platform=platform,
                      account=account, status=rejected.status_code)  # fmt: skip


def _bounded(platform: str, adapters: Mapping[str, object]) -> str:
    """Metric label: a known platform, or 'other' (a path segment is attacker-controlled)."""
    return platform if platform in adapters else "other"


class AccountConflict(Exception):
    """The account is configured in the accounts file, which the API does not change."""


class AccountAdmin:
    """Brand accounts through the admin API: validated by the platform's adapter, stored in
    PostgreSQL, and seen by every replica within `accounts_refresh_seconds`. Writes join the
    caller's transaction; this replica's directory changes once it commits."""

    def __init__(
        self, adapters: Mapping[str, PlatformAdapter[Any]], accounts: AccountDirectory,
        sessionmaker: async_sessionmaker[AsyncSession], box: SecretBox | None,
    ) -> None:  # fmt: skip
        self._adapters = adapters
        self._accounts = accounts
        self._sessionmaker = sessionmaker  # for the periodic refresh, which only reads
        self._box = box  # None only while the admin API is off: then nothing is written

    def knows_platform(self, platform: str) -> bool:
        return platform in self._adapters

    def views(self) -> list[dict[str, Any]]:
        return [
            {**account_view(account), "source": source}
            for account, source in sorted(
                self._accounts.all(), key=lambda a: (a[0].platform, a[0].account_id)
            )
        ]

    def get(self, platform: str, account_id: str) -> dict[str, Any] | None:
        account = self._accounts.find(platform, account_id)
        source = self._accounts.source(platform, account_id)
        return None if account is None else {**account_view(account), "source": source}

    async def put(
        self, session: AsyncSession, platform: str, account_id: str, fields: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace; returns the view and whether it was created. Raises
        InvalidAccount (the fields do not make an account) or AccountConflict."""
        self._refuse_file_account(platform, account_id)
        account = parse_account(
            {**fields, "platform": platform, "account_id": account_id}, self._adapters
        )
        created = await repository.save_api_account(session, self._stored(account))
        after_commit(session, lambda: self._saved(account, created=created))
        return {**account_view(account), "source": "api"}, created

    async def delete(self, session: AsyncSession, platform: str, account_id: str) -> bool:
        self._refuse_file_account(platform, account_id)
        deleted = await repository.delete_api_account(session, platform, account_id)
        after_commit(session, lambda: self._deleted(platform, account_id, deleted=deleted))
        return deleted

    def _saved(self, account: PlatformAccount, *, created: bool) -> None:
        self._accounts.put(account)
        self._count()
        log.info("brand account saved", platform=account.platform, account=account.account_id,
                 created=created)  # fmt: skip

    def _deleted(self, platform: str, account_id: str, *, deleted: bool) -> None:
        self._accounts.remove(platform, account_id)
        self._count()
        if deleted:
            log.info("brand account deleted", platform=platform, account=account_id)

    async def load(self) -> None:
        """At start: every stored account must open, or ingest does not start (serving 404s
        to its platforms instead would lose their events: most do not retry a 404)."""
        if unreadable := await self.refresh():
            raise RuntimeError(
                f"{len(unreadable)} stored brand account(s) do not open (INGEST_ACCOUNTS_KEYS "
                f"missing or rotated too far?): {', '.join(unreadable)}"
            )

    async def refresh(self) -> list[str]:
        """Reload the API-managed accounts (another replica may have changed them). One that
        does not open any more keeps its loaded version; returns those ("platform/account")."""
        generation = self._accounts.generation
        async with self._sessionmaker() as session:
            entries = await repository.api_accounts(session)
        accounts: list[PlatformAccount] = []
        unreadable: list[str] = []
        for entry in entries:
            platform, account_id = str(entry.get("platform")), str(entry.get("account_id"))
            try:
                if self._box is None:
                    raise InvalidAccount("stored secrets need INGEST_ACCOUNTS_KEYS to open")
                accounts.append(parse_account(self._box.open(entry), self._adapters))
            except InvalidAccount as exc:
                log.error("stored brand account does not open", problem=str(exc),
                          platform=platform, account=account_id)  # fmt: skip
                unreadable.append(f"{platform}/{account_id}")
                if (loaded := self._accounts.find(platform, account_id)) is not None:
                    accounts.append(loaded)
        self._accounts.replace_api_accounts(accounts, read_at_generation=generation)
        self._count()
        return unreadable

    def _stored(self, account: PlatformAccount) -> dict[str, Any]:
        if self._box is None:
            raise RuntimeError("the admin API writes accounts only with INGEST_ACCOUNTS_KEYS")
        return self._box.seal(account)

    def _refuse_file_account(self, platform: str, account_id: str) -> None:
        source: Source | None = self._accounts.source(platform, account_id)
        if source == "file":
            raise AccountConflict(
                f"{platform} account {account_id!r} is configured in the accounts file"
            )

    def _count(self) -> None:
        sources: tuple[Source, ...] = ("file", "api")
        for source in sources:
            metrics.ACCOUNTS.labels(source).set(self._accounts.count(source))
