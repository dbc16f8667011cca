"""The intake: verify, parse, normalise, produce — and record what is refused."""

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from services.ingest import metrics
from services.ingest.accounts import AccountDirectory
from services.ingest.config import IngestSettings
from services.ingest.domain import VerificationError, redact_headers
from services.ingest.platforms import standard
from shared.contracts import IngestRejected
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
        accounts: AccountDirectory,
        producer: EventProducer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._producer = producer
        self._clock = clock

    async def receive_standard(
        self, account_id: str, headers: Mapping[str, str], body: bytes
    ) -> str:
        """Returns the event id once Kafka has the event; raises Rejected or BrokerUnavailable."""
        account = self._accounts.find(standard.PLATFORM, account_id)
        if account is None:
            raise Rejected(404, "unknown_account", f"no {standard.PLATFORM} account {account_id}")
        tolerance = timedelta(seconds=self._settings.webhook_tolerance_seconds)
        try:
            standard.verify_standard_webhook(
                secret=account.secret.get_secret_value(), headers=headers, body=body,
                now=self._clock(), tolerance=tolerance,
            )  # fmt: skip
        except VerificationError as exc:
            raise Rejected(401, exc.reason, str(exc)) from exc
        try:
            payload = standard.parse(body)
        except ValidationError as exc:
            raise Rejected(400, "malformed", _summary(exc)) from exc
        event = standard.normalise(payload, account=account_id)
        started = time.perf_counter()
        await self._producer.publish(event)
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        return event.id

    async def record_rejection(
        self, rejected: Rejected, *, platform: str, account: str | None,
        headers: Mapping[str, str], body: bytes,
    ) -> None:  # fmt: skip
        """Best effort: a broker outage must not turn a 4xx into a 5xx, so it is logged instead."""
        limit = self._settings.rejected_excerpt_bytes
        record = IngestRejected(
            platform=platform, account=account, reason=rejected.reason,
            status_code=rejected.status_code, detail=rejected.detail[:1000],
            received_at=self._clock(), request_headers=redact_headers(headers),
            body_excerpt=body[:limit].decode("utf-8", "replace"), body_size=len(body),
        )  # fmt: skip
        source = f"scrm/ingest/{platform}"
        event = CloudEvent.of(
            record, id=str(uuid.uuid4()),  # every refused request is its own record
            source=source, subject=f"{platform}:{account or '-'}:-",
        )  # fmt: skip
        try:
            await self._producer.publish(event)
        except BrokerUnavailable:
            log.error("rejection not recorded on Kafka", reason=rejected.reason, platform=platform,
                      account=account, status=rejected.status_code)  # fmt: skip


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
        for err in exc.errors()[:5]
    )
