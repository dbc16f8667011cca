"""responder's own metrics (the consumer and HTTP ones are shared)."""

from prometheus_client import Counter

INBOUND_MESSAGES = Counter(
    "scrm_responder_inbound_messages_total", "Fan messages and comments that need an answer."
)
