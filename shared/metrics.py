"""Metrics shared by every service. Labels are bounded: service, topic, partition, outcome,
route, reason, part."""

from prometheus_client import Counter, Gauge, Histogram

CONSUMER_EVENTS = Counter(
    "scrm_consumer_events_total",
    "Kafka records a consumer finished with, by outcome.",
    ["service", "topic", "outcome"],
)
CONSUMER_PROCESSING = Histogram(
    "scrm_consumer_processing_seconds",
    "Time from taking a record to its DB commit.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_BATCH_SIZE = Histogram(
    "scrm_consumer_batch_size",
    "Records of one partition a consumer took from one fetch; in batch mode, records applied in "
    "one transaction (a few partitions of a fetch).",
    ["service", "topic"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000),
)
CONSUMER_BATCHES_FAILED = Counter(
    "scrm_consumer_batches_failed_total",
    "Batches (batch mode) whose transaction failed, their events then applied one at a time: "
    "a poison event, or two transactions locking the same rows in opposite orders.",
    ["service", "topic"],
)
CONSUMER_LAG = Gauge(
    "scrm_consumer_lag",
    "Records between the consumer's position and the partition's high watermark.",
    ["service", "topic", "partition"],
)
CONSUMER_PAUSED = Gauge(
    "scrm_consumer_paused",
    "1 while a consumer is paused until a part of its infrastructure (postgres, kafka) answers "
    "again, else 0.",
    ["service", "part"],
)
OUTBOX_PENDING = Gauge(
    "scrm_outbox_pending",
    "Outbox rows not yet relayed to Kafka (counted up to 100,000), whether the relay can send "
    "or not.",
    ["service"],
)
OUTBOX_RELAYED = Counter(
    "scrm_outbox_relayed_total", "Outbox rows relayed to Kafka.", ["service", "topic"]
)
HTTP_REQUESTS = Counter(
    "scrm_http_requests_total",
    "HTTP requests answered.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "scrm_http_request_duration_seconds",
    "HTTP request duration.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
HTTP_REFUSED = Counter(
    "scrm_http_refused_total",
    "Connections and requests the HTTP server itself refused, by reason (head_too_large, "
    "head_timeout, body_timeout, too_many_connections).",
    ["service", "reason"],
)
