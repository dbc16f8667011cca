"""The rules against replays, without I/O: the bounds of the settings."""

import pytest
from pydantic import ValidationError

from services.ingest.config import IngestSettings

DATABASE = "postgresql+asyncpg://scrm@db/scrm"


def settings(**overrides: object) -> IngestSettings:
    return IngestSettings(kafka_bootstrap_servers="kafka:9092", database_url=DATABASE,
                          **overrides)  # type: ignore[arg-type]  # fmt: skip


class TestTolerance:
    def test_an_hour_is_the_longest_window(self) -> None:
        assert settings(webhook_tolerance_seconds=3600).webhook_tolerance_seconds == 3600

    @pytest.mark.parametrize("seconds", [3601, 7200, 3_000_000])
    def test_a_longer_one_is_refused_naming_the_variable_and_the_bound(self, seconds: int) -> None:
        with pytest.raises(ValidationError, match=r"INGEST_WEBHOOK_TOLERANCE_SECONDS.*3600"):
            settings(webhook_tolerance_seconds=seconds)

    def test_the_environment_is_bounded_too(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("INGEST_WEBHOOK_TOLERANCE_SECONDS", "7200")
        with pytest.raises(ValidationError, match="at most 3600"):
            settings()
