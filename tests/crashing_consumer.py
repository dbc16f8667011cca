"""Run as a process: consume one event, commit its DB transaction, then die by SIGKILL before
the offset is committed — the crash window the idempotent consumer exists for."""

import asyncio
import os
import signal
import sys

from services.scoring.config import ScoringSettings
from tests.consumer_fixtures import ConsumerHarness


async def main() -> None:
    bootstrap, database_url, prefix, idempotence = sys.argv[1:5]
    settings = ScoringSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix,
        kafka_idempotence=idempotence == "true", log_json=False,
        consumer_session_timeout_ms=2000,
    )  # fmt: skip
    harness = ConsumerHarness(settings)
    await harness.start()
    runner = harness.runner(after_db_commit=lambda _: os.kill(os.getpid(), signal.SIGKILL))
    await runner.start()
    await asyncio.sleep(60)  # the kill comes first


if __name__ == "__main__":
    asyncio.run(main())
