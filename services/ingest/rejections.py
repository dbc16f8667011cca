"""Refused webhooks, kept for inspection on ``scrm.ingest.rejected.v1``: small (bounded fields,
harmless values only, a truncated path and body excerpt) and admitted per source, so a stranger's
refused requests cannot be turned into a flood on Kafka. What is not recorded is counted."""

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from services.ingest import metrics
from services.ingest.config import IngestSettings
from services.ingest.domain import (
    HARMLESS_HEADERS,
    HARMLESS_QUERY,
    MAX_RECORDED_VALUE,
    TokenBuckets,
    recorded_fields,
    shown,
)
from services.ingest.platforms.base import InboundRequest, PlatformAdapter
from shared.contracts import IngestRejected
from shared.events import CloudEvent
from shared.kafka import BrokerUnavailable, EventProducer
from shared.logging import get_logger

log = get_logger(__name__)
SOURCE = "scrm/ingest"
MAX_QUERY_RECORDED = 1000


class Rejected(Exception):
    """A webhook refused with a 4xx; `reason` is one of a closed set (metric label)."""

    def __init__(self, status_code: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


class RejectionRecorder:
    def __init__(
        self, settings: IngestSettings, producer: EventProducer,
        adapters: Mapping[str, PlatformAdapter[Any]],
        *, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._excerpt = settings.rejected_excerpt_bytes
        self._producer = producer
        self._clock = clock
        self._admission = TokenBuckets(
            rate=settings.rejected_per_source_per_second, burst=settings.rejected_burst,
            total_rate=settings.rejected_per_second,
        )  # fmt: skip
        # Every platform's secrets, whatever the path said: a forged request may carry another
        # platform's signature, or name no platform at all.
        self._secret_headers = frozenset[str]().union(
            *(a.secret_headers for a in adapters.values())
        )
        self._secret_query = frozenset[str]().union(*(a.secret_query for a in adapters.values()))

    async def record(
        self, rejected: Rejected, *, platform: str, account: str, request: InboundRequest,
        source: str,
    ) -> None:  # fmt: skip
        """Best effort: a broker outage must not turn a 4xx into a 5xx, so it is logged instead."""
        if not self._admission.admit(source, now=self._clock()):
            metrics.REJECTIONS_UNRECORDED.labels(rejected.reason).inc()
            return
        event = CloudEvent.of(
            self._record(rejected, platform=platform, account=account, request=request),
            id=str(uuid.uuid4()),  # every refused request is its own record
            source=SOURCE, subject=f"{shown(platform)}:{shown(account)}:-",
        )  # fmt: skip
        try:
            await self._producer.publish(event)
        except BrokerUnavailable:
            metrics.REJECTIONS_UNRECORDED.labels(rejected.reason).inc()
            log.error("rejection not recorded on Kafka", reason=rejected.reason,
                      platform=shown(platform), status=rejected.status_code)  # fmt: skip

    def _record(
        self, rejected: Rejected, *, platform: str, account: str, request: InboundRequest
    ) -> IngestRejected:  # fmt: skip
        headers = recorded_fields(
            request.headers, harmless=HARMLESS_HEADERS, secret=self._secret_headers
        )
        if request.query:
            query = recorded_fields(
                request.query, harmless=HARMLESS_QUERY, secret=self._secret_query
            )
            joined = "&".join(f"{name}={value}" for name, value in query.items())
            headers["query"] = joined[:MAX_QUERY_RECORDED]
        return IngestRejected(
            platform=shown(platform), account=shown(account), reason=rejected.reason,
            status_code=rejected.status_code, detail=rejected.detail[:MAX_RECORDED_VALUE * 4],
            received_at=request.received_at, request_headers=headers,
            body_excerpt=request.body[: self._excerpt].decode("utf-8", "replace"),
            body_size=len(request.body),
        )  # fmt: skip
