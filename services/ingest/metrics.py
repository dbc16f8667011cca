"""ingest's own metrics. `platform`, `outcome` and `reason` are closed sets."""

import functools

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter(
    "scrm_ingest_webhooks_total",
    "Webhook requests by platform and outcome.",
    ["platform", "outcome"],
)
# The child of a (platform, outcome), bound once: labels() costs more than inc() on every push.
webhook_outcome = functools.cache(WEBHOOKS.labels)
PRODUCE_SECONDS = Histogram(
    "scrm_ingest_produce_seconds",
    "Time for Kafka to acknowledge a normalised event (acks=all).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REPLIES = Counter(
    "scrm_ingest_replies_total",
    "Outbound replies by platform and outcome (delivered, failed, retried).",
    ["platform", "outcome"],
)
DROPPED_EVENTS = Counter(
    "scrm_ingest_dropped_events_total",
    "Platform events read from an authentic push but not produced, by platform and reason "
    "(verification: a console's test event; no_sender: no fan to attribute it to).",
    ["platform", "reason"],
)
dropped_event = functools.cache(DROPPED_EVENTS.labels)
DEDUPE_FORGOTTEN = Counter(
    "scrm_ingest_dedupe_forgotten_total",
    "Received-event claims deleted after the de-duplication window.",
)
ACCOUNTS = Gauge(
    "scrm_ingest_accounts",
    "Brand accounts ingest knows, by where they are configured (file, api).",
    ["source"],
)
REJECTIONS_UNRECORDED = Counter(
    "scrm_ingest_rejections_unrecorded_total",
    "Refused webhooks not recorded on the rejected topic: over their source's or the overall "
    "allowance, or the broker was unavailable; by refusal reason.",
    ["reason"],
)
