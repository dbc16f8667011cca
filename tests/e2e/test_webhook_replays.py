"""Replays and oracles over HTTP against a running ingest: a captured WeCom push is no echostr, a
signature that does not cover the body carries one body only (on every replica), a URL check
is only answered within the timestamp window, and a window longer than an hour stops ingest."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack.embedded import free_port
from tests.conftest import Infrastructure

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


class TestTolerance:
    def test_a_tolerance_over_an_hour_stops_ingest_at_start_up(
        self, infrastructure: Infrastructure, database_url: str, kafka_topics: str
    ) -> None:
        env = {**os.environ, "INGEST_WEBHOOK_TOLERANCE_SECONDS": "7200",
               "SCRM_DATABASE_URL": database_url, "SCRM_TOPIC_PREFIX": kafka_topics,
               "SCRM_KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
               "SCRM_KAFKA_IDEMPOTENCE": str(infrastructure.idempotence).lower(),
               "INGEST_HTTP_PORT": str(free_port())}  # fmt: skip
        ingest = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            output, _ = ingest.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            ingest.kill()
            ingest.communicate()
            pytest.fail("ingest started with a tolerance of two hours")
        assert ingest.returncode != 0
        assert b"INGEST_WEBHOOK_TOLERANCE_SECONDS" in output, output.decode()[-2000:]
        assert b"3600" in output
