"""Platform-independent rules of the boundary: pure functions, no I/O."""

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from services.ingest.platforms.base import SendOutcome
from shared.contracts import FanEvent
from shared.events import CloudEvent

# --- what a refused request leaves behind -----------------------------------------------------

REDACTED = "[redacted]"  # a credential or signature was there
NOT_RECORDED = "[not recorded]"  # a value nobody vouched for as harmless
# Credentials whatever the platform; each adapter names its own signature headers and query
# parameters (`secret_headers`, `secret_query`).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key",
                                "x-signature"})  # fmt: skip
# Recorded as sent (truncated): what tells an operator who sent a refused request and how.
HARMLESS_HEADERS = frozenset({
    "accept", "accept-encoding", "content-encoding", "content-length", "content-type", "host",
    "traceparent", "transfer-encoding", "user-agent", "webhook-id", "webhook-timestamp",
    "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "x-request-id",
})  # fmt: skip
HARMLESS_QUERY = frozenset({"encrypt_type", "hub.mode", "nonce", "timestamp"})
MAX_RECORDED_FIELDS = 32
MAX_RECORDED_NAME = 64
MAX_RECORDED_VALUE = 256
MAX_SHOWN_SEGMENT = 64  # characters of an attacker-chosen path segment shown back or stored


def recorded_fields(
    fields: Mapping[str, str], *, harmless: frozenset[str], secret: frozenset[str]
) -> dict[str, str]:
    """What of a refused request's headers (or query) is kept: harmless values (truncated), a
    marker for secrets and for the rest, at most MAX_RECORDED_FIELDS names."""
    kept: dict[str, str] = {}
    for name, value in fields.items():
        if len(kept) == MAX_RECORDED_FIELDS:
            kept["..."] = f"{len(fields) - MAX_RECORDED_FIELDS} more not recorded"
            break
        lowered = name.lower()
        kept[name[:MAX_RECORDED_NAME]] = (
            value[:MAX_RECORDED_VALUE] if lowered in harmless
            else REDACTED if lowered in secret or lowered in CREDENTIAL_HEADERS
            else NOT_RECORDED
        )  # fmt: skip
    return kept


def shown(segment: str) -> str:
    """A path segment as an answer or a record may repeat it: at most MAX_SHOWN_SEGMENT
    characters."""
    if len(segment) <= MAX_SHOWN_SEGMENT:
        return segment
    return f"{segment[:MAX_SHOWN_SEGMENT]}... ({len(segment)} characters)"


def source_of(address: str) -> str:
    """Whom a client address stands for: an IPv4 address itself, an IPv6 one by its /64 (one
    host is given a whole /64 and may rotate through it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


class TokenBuckets:
    """Admission per source: each source may pass `rate` times a second, in bursts of `burst`,
    and all of them together `total_rate` times a second (at least once). At most `max_sources`
    are remembered; past that the least recently seen is forgotten (it starts again with a full
    bucket, which the shared bucket still bounds). Time is passed in: no clock here."""

    def __init__(
        self, *, rate: float, burst: float, total_rate: float, max_sources: int = 10_000
    ) -> None:
        self._rate, self._burst, self._max_sources = rate, burst, max_sources
        self._total_rate = total_rate
        self._sources: dict[str, tuple[float, float]] = {}  # source: (tokens, at)
        self._total: tuple[float, float] | None = None

    def admit(self, source: str, *, now: float) -> bool:
        tokens, at = self._sources.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        total, total_at = self._total or (self._total_rate, now)
        total = min(self._total_rate, total + (now - total_at) * self._total_rate)
        admitted = tokens >= 1 and total >= 1
        if admitted:
            tokens, total = tokens - 1, total - 1
        if len(self._sources) >= self._max_sources:
            del self._sources[next(iter(self._sources))]
        self._sources[source] = (tokens, now)  # re-inserted: the dict is oldest-first
        self._total = (total, now)
        return admitted


# --- replays -----------------------------------------------------------------------------------

REPLICA_CLOCK_SKEW = timedelta(minutes=1)


def signature_memory(tolerance: timedelta) -> timedelta:
    """How long a signature that does not cover the body must be remembered after it was first
    seen: its timestamp is fresh for `tolerance` either side of it, so one first seen at the
    earliest moment stays usable for twice that (and replicas' clocks differ a little)."""
    return 2 * tolerance + REPLICA_CLOCK_SKEW


class ByAge(NamedTuple):
    fresh: list[CloudEvent[FanEvent]]
    stale: list[CloudEvent[FanEvent]]


def by_age(
    events: Sequence[CloudEvent[FanEvent]], *, received_at: datetime, window: timedelta,
    skew: timedelta,
) -> ByAge:  # fmt: skip
    """`events` split by whether they are older than the de-duplication `window`: a claim is
    forgotten once it is older than that, so a replay of such an event would be produced again.
    The cut is `skew` later, for a platform whose clock runs up to that much ahead of ours (its
    events look that much younger than their claims are)."""
    oldest = received_at - window + skew
    fresh = [event for event in events if event.data.occurred_at >= oldest]
    stale = [event for event in events if event.data.occurred_at < oldest]
    return ByAge(fresh, stale)


# --- replies going out -------------------------------------------------------------------------

ReplyStatus = Literal["pending", "delivered", "failed"]


def reply_status_after(outcome: SendOutcome, *, attempts: int, max_attempts: int) -> ReplyStatus:
    """Where a reply stands after its `attempts`-th attempt: 429, 5xx and network errors are
    tried again (``pending``) until `max_attempts`; any other refusal fails it for good."""
    if outcome.delivered:
        return "delivered"
    if outcome.retryable and attempts < max_attempts:
        return "pending"
    return "failed"


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2·base, 4·base… capped."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))
