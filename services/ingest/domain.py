"""Platform-independent rules of the boundary: pure functions, no I/O."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from services.ingest.platforms.base import SendOutcome
from shared.contracts import FanEvent
from shared.events import CloudEvent

REDACTED = "[redacted]"
# Credentials whatever the platform; each adapter names its own signature headers and query
# parameters (`secret_headers`, `secret_query`).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-signature"})


def redact_headers(
    headers: Mapping[str, str], secret: frozenset[str] = frozenset()
) -> dict[str, str]:
    """`headers` with credentials and the `secret` ones (lower-case names) redacted."""
    return {
        name: REDACTED if (lowered := name.lower()) in CREDENTIAL_HEADERS or lowered in secret
        else value
        for name, value in headers.items()
    }  # fmt: skip


def redact_query(query: Mapping[str, str], secret: frozenset[str]) -> dict[str, str]:
    return {name: REDACTED if name in secret else value for name, value in query.items()}


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
