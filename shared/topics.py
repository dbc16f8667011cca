"""The Kafka topics of the system, and their creation.

Call sites name topics through these constants and `BaseServiceSettings.topic`, which adds the
deployment's prefix (tests use one prefix per test).
"""

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

EVENTS = "scrm.events.v1"
PROFILES = "scrm.profiles.v1"
SLA = "scrm.sla.v1"
REPLIES = "scrm.replies.v1"
COUPONS = "scrm.coupons.v1"
OPERATOR = "scrm.operator.v1"  # what operators decided about fans, replayed like the rest
INGEST_REJECTED = "scrm.ingest.rejected.v1"
DEADLETTER = "scrm.deadletter.v1"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str] = field(default_factory=dict)


ALL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(EVENTS),
    TopicSpec(PROFILES, {"cleanup.policy": "compact"}),
    TopicSpec(SLA),
    TopicSpec(REPLIES),
    TopicSpec(COUPONS),
    TopicSpec(OPERATOR),
    TopicSpec(INGEST_REJECTED, {"retention.ms": str(14 * 24 * 3600 * 1000)}),
    TopicSpec(DEADLETTER, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
)


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    partitions: int = 6,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = ALL_TOPICS,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                f"{prefix}{spec.name}",
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=spec.config,
            )
            for spec in specs
            if f"{prefix}{spec.name}" not in existing
        ]
        if missing:
            # Another process may create them between the listing and the creation.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


def main() -> None:
    from shared.settings import KafkaSettings

    parser = argparse.ArgumentParser(description="Create the SCRM Kafka topics.")
    parser.add_argument("command", choices=["create"])
    parser.parse_args()
    settings = KafkaSettings()
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            prefix=settings.topic_prefix,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )
    print(f"created {len(created)} topics: {', '.join(created) or '-'}")  # noqa: T201


if __name__ == "__main__":
    main()
