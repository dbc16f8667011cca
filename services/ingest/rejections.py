"""Refused webhooks, kept for inspection on ``scrm.ingest.rejected.v1``: small (bounded fields,
harmless values only, a truncated path and body excerpt) and admitted per source, so a stranger's
refused requests cannot be turned into a flood on Kafka. What is not recorded is counted."""

import asyncio
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
    source_of,
)
from services.ingest.platforms.base import InboundRequest, PlatformAdapter
from shared.contracts import IngestRejected
from shared.events import CloudEvent
from shared.kafka import EventProducer
from shared.logging import get_logger
from shared.periodic import PeriodicTask

log = get_logger(__name__)
SOURCE = "scrm/ingest"
MAX_QUERY_RECORDED = 1000
QUEUE_SIZE = 1000  # records waiting for Kafka; the allowance keeps it far from full
POLL_SECONDS = 0.05


class Rejected(Exception):
    """A webhook refused with a 4xx; `reason` is one of a closed set (metric label)."""

    def __init__(self, status_code: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


class RejectionRecorder(PeriodicTask):
    """Records refusals in the background, so a refusal is answered without waiting for Kafka:
    `record` admits and queues (bounded), the loop publishes what is queued, and at stop what is
    left. What is not admitted, does not fit the queue, or does not reach Kafka is counted."""

    def __init__(
        self, settings: IngestSettings, producer: EventProducer,
        adapters: Mapping[str, PlatformAdapter[Any]],
        *, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        super().__init__("rejection-recorder", POLL_SECONDS, self._publish_queued, drain=True)
        self._excerpt = settings.rejected_excerpt_bytes
        self._producer = producer
        self._clock = clock
        self._admission = TokenBuckets(
            rate=settings.rejected_per_source_per_second, burst=settings.rejected_burst,
            total_rate=settings.rejected_per_second,
        )  # fmt: skip
        self._queue: asyncio.Queue[CloudEvent[IngestRejected]] = asyncio.Queue(QUEUE_SIZE)
        # Every platform's secrets, whatever the path said: a forged request may carry another
        # platform's signature, or name no platform at all.
        self._secret_headers = frozenset[str]().union(
            *(a.secret_headers for a in adapters.values())
        )
        self._secret_query = frozenset[str]().union(*(a.secret_query for a in adapters.values()))

    def record(
        self, rejected: Rejected, *, platform: str, account: str, request: InboundRequest,
        source: str,
    ) -> None:  # fmt: skip
        """Queue the refusal's record if its source (an IPv6 client by its /64) is within its
        allowance and the queue has room; else count it."""
        if not self._admission.admit(source_of(source), now=self._clock()):
            metrics.REJECTIONS_UNRECORDED.labels(rejected.reason).inc()
            return
        event = CloudEvent.of(
            self._record(rejected, platform=platform, account=account, request=request),
            id=str(uuid.uuid4()),  # every refused request is its own record
            source=SOURCE, subject=f"{shown(platform)}:{shown(account)}:-",
        )  # fmt: skip
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            metrics.REJECTIONS_UNRECORDED.labels(rejected.reason).inc()

    async def _publish_queued(self) -> int:
        """Publish everything queued, each with its own outcome; how many were taken."""
        taken = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        outcomes = await asyncio.gather(
            *(self._producer.publish(event) for event in taken), return_exceptions=True
        )
        for event, outcome in zip(taken, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                metrics.REJECTIONS_UNRECORDED.labels(event.data.reason).inc()
                log.error("rejection not recorded on Kafka", reason=event.data.reason,
                          platform=event.data.platform, error=repr(outcome))  # fmt: skip
        return len(taken)

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
            body_size=len(request.body) or _declared_length(request.headers),
        )  # fmt: skip


def _declared_length(headers: Mapping[str, str]) -> int:
    """The size a refused request announced for the body it was not let to send."""
    declared = headers.get("content-length", "")
    return int(declared) if declared.isascii() and declared.isdigit() else 0
