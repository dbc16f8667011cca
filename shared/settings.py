"""The settings base every service extends.

Each service reads its own prefix (``INGEST_DATABASE_URL``) first and the shared ``SCRM_`` prefix
(``SCRM_DATABASE_URL``) second, so one pair of variables points the whole system at a Kafka and a
PostgreSQL while any service can still be pointed elsewhere on its own.
"""

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_ENV_PREFIX = "SCRM_"


class KafkaSettings(BaseSettings):
    """What a process needs to reach the broker; also used alone by `python -m shared.topics`."""

    # hide_input_in_errors: a settings error must not print the values (secrets among them).
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    service_name: ClassVar[str] = "scrm"

    kafka_bootstrap_servers: str
    kafka_idempotence: bool = Field(
        default=True,
        description="Idempotent producer; switch off for brokers without InitProducerId.",
    )
    topic_prefix: str = ""
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    produce_timeout_seconds: float = Field(default=5.0, gt=0)

    def topic(self, name: str) -> str:
        """The real name of one of `shared.topics`' topics, with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared_env = EnvSettingsSource(settings_cls, env_prefix=SHARED_ENV_PREFIX)
        return init_settings, env_settings, shared_env, dotenv_settings, file_secret_settings


class BaseServiceSettings(KafkaSettings):
    database_url: SecretStr = Field(
        description="postgresql+asyncpg://user:password@host:port/database"
    )
    database_pool_size: int = Field(
        default=20, ge=1, le=500,
        description="connections to PostgreSQL each process keeps open and uses at most; a "
        "request or batch beyond them waits for one (none is opened and closed on the fly: a "
        "new connection costs PostgreSQL a process)",
    )  # fmt: skip

    consumer_max_attempts: int = Field(default=4, ge=1)
    consumer_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    consumer_max_batch: int = Field(default=200, ge=1)
    consumer_fetch_min_bytes: int = Field(
        default=1, ge=1, le=16 * 1024 * 1024,
        description="bytes the broker gathers for a fetch before answering it (or until "
        "consumer_fetch_max_wait_ms): larger, fewer and bigger batches, at that much latency",
    )  # fmt: skip
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=0, le=10_000)
    consumer_partitions_in_flight: int = Field(
        default=4, ge=1, le=64,
        description="partitions of one fetch applied at once, each in its own transactions (a "
        "database connection each)",
    )  # fmt: skip
    consumer_session_timeout_ms: int = Field(
        default=10_000, ge=1000, description="also how long a group join may wait for members"
    )
    outbox_poll_seconds: float = Field(default=0.2, gt=0)
    outbox_linger_seconds: float = Field(
        default=0.02, ge=0, le=1,
        description="how long the relay, woken by a commit, waits for the next commits' events "
        "before a pass: fewer, fuller passes (a pass per commit or two took a quarter of a busy "
        "service's CPU), each event that much later on Kafka",
    )  # fmt: skip

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None,
        description="JSON lines (true) or console lines (false); unset: console lines on a "
        "terminal, JSON lines elsewhere (containers, CI, files)",
    )
    shutdown_grace_seconds: float = Field(default=15.0, gt=0)

    # Limits at the door (shared.http_server): what one client may hold of the process.
    http_max_head_bytes: int = Field(
        default=65_536, ge=1024, le=1_048_576,
        description="request line and headers, in bytes; a larger head is answered 431",
    )  # fmt: skip
    http_head_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300,
        description="time to receive a request's head from the connection's start (on a "
        "kept-alive connection: from the previous answer, plus the keep-alive idle time); past it "
        "408 and close",
    )  # fmt: skip
    http_body_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="time to receive a request's body after its head; past it 408 and close",
    )  # fmt: skip
    http_max_connections: int = Field(
        default=1000, ge=1, le=100_000,
        description="open connections; one more is answered 503 and closed at once",
    )  # fmt: skip
    http_trusted_proxies: str | None = Field(
        default=None,
        description="comma-separated addresses of the reverse proxies in front; their "
        "X-Forwarded-For then names the client (unset: the peer is the client)",
    )

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}scrm-{self.service_name}"
