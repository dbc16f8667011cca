"""The intake, the same for every platform: find the account (before the body is read), let its
adapter verify and normalise, drop what was already received, produce (``acks=all``), then
answer as the platform expects. Refusals are recorded on ``scrm.ingest.rejected.v1``
(`services.ingest.rejections`). And the brand accounts the admin API manages."""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
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
from services.ingest.domain import shown
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
from services.ingest.platforms.common import validation_summary
from services.ingest.rejections import Rejected, RejectionRecorder
from services.ingest.replays import SeenSignatures, fresh_events
from shared.contracts import FanEvent
from shared.db import after_commit
from shared.events import CloudEvent
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Destination:
    """Where a webhook path leads: a platform ingest speaks and one of its brand accounts."""

    platform: str
    adapter: PlatformAdapter[Any]
    account: PlatformAccount


class WebhookIntake:
    def __init__(
        self,
        settings: IngestSettings,
        adapters: Mapping[str, PlatformAdapter[Any]],
        accounts: AccountDirectory,
        committer: GroupCommitter,
        rejections: RejectionRecorder,
        seen: SeenSignatures,
    ) -> None:
        self._settings = settings
        self._seen = seen
        self._adapters = adapters
        self._accounts = accounts
        self._committer = committer
        self.rejections = rejections

    def knows_platform(self, platform: str) -> bool:
        return platform in self._adapters

    def destination(self, platform: str, account_id: str) -> Destination:
        """The adapter and account the path names, known before a byte of the body is read;
        raises Rejected (404)."""
        adapter = self._adapters.get(platform)
        if adapter is None:
            raise Rejected(404, "unsupported", f"no platform {shown(platform)!r}")
        account = self._accounts.find(platform, account_id)
        if account is None:
            raise Rejected(404, "unknown_account", f"no {platform} account {shown(account_id)!r}")
        return Destination(platform, adapter, account)

    async def receive(self, to: Destination, request: InboundRequest) -> PlatformAnswer:
        """Raises Rejected (4xx) or BrokerUnavailable (503); never anything else by design."""
        adapter, account = to.adapter, to.account
        try:
            if request.method == "GET":
                metrics.webhook_outcome(to.platform, "handshake").inc()
                answer = adapter.handshake(account, request)
                await self._seen.check(to.platform, account, request)
                return answer
            authentic = verify_push(adapter, account, request)
            await self._seen.check(to.platform, account, request)
        except VerificationError as exc:
            status = 400 if exc.reason == "unsupported" else 401
            raise Rejected(status, exc.reason, str(exc)) from exc
        try:
            events = adapter.normalise(account, authentic)
        except MalformedPayload as exc:
            raise Rejected(400, "malformed", str(exc)[:1000]) from exc
        except ValidationError as exc:  # a contract refusal an adapter let through: still a 400
            raise Rejected(400, "malformed", validation_summary(exc)[:1000]) from exc
        events = self._fresh(to.platform, account.account_id, events, request.received_at)
        await self._produce_new(to.platform, account.account_id, events)
        return adapter.acknowledge(account, request, events)

    def _fresh(
        self, platform: str, account_id: str, events: Sequence[CloudEvent[FanEvent]],
        received_at: datetime,
    ) -> Sequence[CloudEvent[FanEvent]]:  # fmt: skip
        try:
            return fresh_events(events, platform=platform, account=account_id,
                                received_at=received_at, settings=self._settings)  # fmt: skip
        except VerificationError as exc:  # stale_event: 401, as a stale timestamp is
            raise Rejected(401, exc.reason, str(exc)) from exc

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

    def platform_label(self, platform: str) -> str:
        """A metric label for what a path named: a platform ingest speaks, or "other" (a path
        segment is anyone's choice, a label set must stay bounded)."""
        return platform if platform in self._adapters else "other"

    def record_rejection(
        self, rejected: Rejected, *, platform: str, account: str, request: InboundRequest,
        source: str,
    ) -> None:  # fmt: skip
        """Counted now, recorded in the background: the refusal's answer does not wait."""
        label = self.platform_label(platform)
        metrics.webhook_outcome(label, f"rejected_{rejected.reason}").inc()
        self.rejections.record(
            rejected, platform=platform, account=account, request=request, source=source
        )


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
        if deleted:
            after_commit(session, lambda: self._deleted(platform, account_id))
        else:  # gone already (another replica): nothing to commit, forgotten here at once
            self._deleted(platform, account_id)
        return deleted

    def _saved(self, account: PlatformAccount, *, created: bool) -> None:
        self._accounts.put(account)
        self._count()
        log.info("brand account saved", platform=account.platform, account=account.account_id,
                 created=created)  # fmt: skip

    def _deleted(self, platform: str, account_id: str) -> None:
        if self._accounts.find(platform, account_id) is not None:
            self._accounts.remove(platform, account_id)
            log.info("brand account deleted", platform=platform, account=account_id)
        self._count()

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
