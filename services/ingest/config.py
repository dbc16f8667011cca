from pathlib import Path
from typing import Self

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings

MAX_WEBHOOK_TOLERANCE_SECONDS = 3600


class IngestSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_")
    service_name = "ingest"

    http_port: int = 8001
    accounts_file: Path | None = Field(
        default=None, description="JSON file of brand accounts and their secrets (README)"
    )
    admin_token: SecretStr | None = Field(
        default=None, min_length=16,
        description="bearer token of the admin API (16+ characters); unset turns the API off",
    )  # fmt: skip
    accounts_keys: SecretStr | None = Field(
        default=None,
        description="comma-separated Fernet keys sealing the admin API's stored secrets; the "
        "first seals, any opens (rotation). Required with INGEST_ADMIN_TOKEN",
    )
    accounts_refresh_seconds: float = Field(
        default=5.0, gt=0, description="how soon a replica sees another's account changes"
    )
    commit_max_in_flight: int = Field(
        default=8, ge=1, le=64, description="webhook batches committing at once (group commit)"
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    webhook_tolerance_seconds: int = Field(
        default=300, gt=0,
        description="how far a signed timestamp may be from ours (at most an hour): within it, "
        "a captured signature can be replayed",
    )  # fmt: skip
    rejected_excerpt_bytes: int = Field(default=4096, ge=0, le=65_536)
    rejected_per_source_per_second: float = Field(
        default=1.0, gt=0, description="refusals recorded per client address and second"
    )
    rejected_burst: int = Field(
        default=20, ge=1, description="refusals one client address may have recorded at once"
    )
    rejected_per_second: float = Field(
        default=50.0, ge=1, description="refusals recorded per second from all addresses"
    )
    dedupe_window_hours: float = Field(
        default=168.0, gt=0,
        description="how long a platform's retry is recognised (7 days); older events are refused",
    )  # fmt: skip
    dedupe_cleanup_interval_seconds: float = Field(default=600.0, gt=0)
    dedupe_cleanup_batch: int = Field(default=5000, gt=0)
    send_api_base_urls: dict[str, str] = Field(
        default_factory=dict,
        description='per platform, e.g. {"telegram": "http://127.0.0.1:9000"}; else the real API',
    )
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    send_max_attempts: int = Field(default=8, ge=1)
    send_retry_base_seconds: float = Field(default=2.0, ge=0)
    send_retry_max_seconds: float = Field(default=900.0, gt=0)
    send_poll_seconds: float = Field(default=0.5, gt=0)

    @field_validator("webhook_tolerance_seconds")
    @classmethod
    def _tolerance_at_most_an_hour(cls, seconds: int) -> int:
        """A typo here (an extra zero) would quietly switch replay protection off."""
        if seconds > MAX_WEBHOOK_TOLERANCE_SECONDS:
            raise ValueError(
                f"INGEST_WEBHOOK_TOLERANCE_SECONDS is {seconds}: at most "
                f"{MAX_WEBHOOK_TOLERANCE_SECONDS} (an hour); a longer window lets a captured "
                "signature be replayed for that long"
            )
        return seconds

    @model_validator(mode="after")
    def _dedupe_window_outlasts_the_tolerance(self) -> Self:
        """Events older than the window are refused, the cut a tolerance later for platform
        clocks ahead of ours: with a window of two tolerances or less, an event from a clock a
        tolerance behind would be refused on arrival."""
        if self.dedupe_window_hours * 3600 <= 2 * self.webhook_tolerance_seconds:
            raise ValueError(
                "INGEST_DEDUPE_WINDOW_HOURS must be longer than twice "
                "INGEST_WEBHOOK_TOLERANCE_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _admin_api_seals_secrets(self) -> Self:
        if self.admin_token is not None and self.accounts_keys is None:
            raise ValueError(
                "INGEST_ADMIN_TOKEN needs INGEST_ACCOUNTS_KEYS (stored secrets are sealed)"
            )
        if self.accounts_keys is not None:
            keys = self.fernet_keys()
            if not keys:
                raise ValueError("INGEST_ACCOUNTS_KEYS holds no key")
            for key in keys:
                try:
                    Fernet(key)
                except ValueError:
                    raise ValueError("INGEST_ACCOUNTS_KEYS: each key a Fernet key") from None
        return self

    def fernet_keys(self) -> list[str]:
        """The keys sealing stored secrets, the sealing one first."""
        if self.accounts_keys is None:
            return []
        return [k.strip() for k in self.accounts_keys.get_secret_value().split(",") if k.strip()]
