from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class IngestSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_")
    service_name = "ingest"

    http_port: int = 8001
    accounts_file: Path | None = Field(
        default=None, description="JSON file of brand accounts and their secrets (README)"
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    webhook_tolerance_seconds: int = Field(default=300, gt=0)
    rejected_excerpt_bytes: int = Field(default=4096, ge=0)
