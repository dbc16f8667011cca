from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class ScoringSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_")
    service_name = "scoring"

    http_port: int = 8002
