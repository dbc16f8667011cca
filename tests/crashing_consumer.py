"""Run as a process: consume, commit the DB transaction, then die by SIGKILL before the offset
is committed — the crash window the idempotent consumer exists for. The fifth argument, `batch`,
runs the runner in batch mode (the kill comes after the first batch's commit)."""

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.config import ScoringSettings
from shared.db import after_commit
from shared.events import CloudEvent
from tests.consumer_fixtures import ConsumerHarness, record_effect, record_effects


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def record_effect_then_die(session: AsyncSession, event: CloudEvent[Any]) -> None:
    """The effect, then a kill the moment its transaction committed: the runner is between its
    DB commit and its offset commit."""
    await record_effect(session, event)
    after_commit(session, die)


async def record_effects_then_die(session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
    await record_effects(session, events)
    after_commit(session, die)


async def main() -> None:
    bootstrap, database_url, prefix, idempotence = sys.argv[1:5]
    batch_mode = sys.argv[5:6] == ["batch"]
    settings = ScoringSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix,
        kafka_idempotence=idempotence == "true", log_json=False,
        consumer_session_timeout_ms=2000,
    )  # fmt: skip
    harness = ConsumerHarness(settings)
    await harness.start()
    if batch_mode:
        runner = harness.batch_runner(record_effects_then_die)
    else:
        runner = harness.runner(record_effect_then_die)
    await runner.start()
    await asyncio.sleep(60)  # the kill comes first


if __name__ == "__main__":
    asyncio.run(main())
