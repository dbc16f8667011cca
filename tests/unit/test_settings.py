import pytest

from services.scoring.config import ScoringSettings


class TestSettingsSources:
    def test_the_shared_prefix_configures_every_service(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SCRM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
        monkeypatch.setenv("SCRM_DATABASE_URL", "postgresql+asyncpg://u:p@db/scrm")
        settings = ScoringSettings()
        assert settings.kafka_bootstrap_servers == "kafka:9092"
        assert settings.http_port == 8002

    def test_the_service_prefix_wins_over_the_shared_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SCRM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
        monkeypatch.setenv("SCORING_KAFKA_BOOTSTRAP_SERVERS", "other:9092")
        monkeypatch.setenv("SCRM_DATABASE_URL", "postgresql+asyncpg://u:p@db/scrm")
        assert ScoringSettings().kafka_bootstrap_servers == "other:9092"

    def test_the_database_password_never_shows(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SCRM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
        monkeypatch.setenv("SCRM_DATABASE_URL", "postgresql+asyncpg://u:hunter2@db/scrm")
        settings = ScoringSettings()
        assert "hunter2" not in repr(settings)
        assert "hunter2" not in settings.model_dump_json()

    def test_there_is_no_default_database(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("SCRM_DATABASE_URL", "SCORING_DATABASE_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SCRM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
        with pytest.raises(ValueError, match="database_url"):
            ScoringSettings()

    def test_topic_names_carry_the_deployment_prefix(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SCRM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
        monkeypatch.setenv("SCRM_DATABASE_URL", "postgresql+asyncpg://u:p@db/scrm")
        monkeypatch.setenv("SCRM_TOPIC_PREFIX", "staging.")
        settings = ScoringSettings()
        assert settings.topic("scrm.events.v1") == "staging.scrm.events.v1"
        assert settings.consumer_group == "staging.scrm-scoring"
