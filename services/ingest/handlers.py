"""ingest's Kafka subscribers: none yet. The outbound reply worker (scrm.replies.v1) lands here
with the platform send adapters."""
