from typing import Literal

from pydantic import AwareDatetime, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class ResponderSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RESPONDER_")
    service_name = "responder"

    http_port: int = 8003
    # A fan's message is in the queue sooner when the broker gathers ~50 ms or 64 KiB of them
    # per fetch: one byte's fetches, a few records each, cost the broker and responder a round
    # apiece and kept both cores busy at 1,000 webhooks a second (make bench-routing: webhook ->
    # queue p99 1,032 ms with them, 392-553 ms with these). A backlog is read 1,000 at a time.
    consumer_max_batch: int = Field(default=1000, ge=1)
    consumer_fetch_min_bytes: int = Field(default=64 * 1024, ge=1, le=16 * 1024 * 1024)
    consumer_fetch_max_wait_ms: int = Field(default=50, ge=0, le=10_000)
    clock: Literal["system", "simulated"] = Field(
        default="system",
        description="the clock responder reads the time from: the system's, or a simulated one "
        "an admin sets and advances (PUT /v1/admin/clock, POST /v1/admin/clock/advance), for "
        "tests, demos and what-if runs",
    )
    simulated_start: AwareDatetime | None = Field(
        default=None, description="where a simulated clock starts; unset: the time at start-up"
    )
    timer_scan_seconds: float = Field(
        default=5.0, gt=0, le=300,
        description="how often each replica reads the pending deadlines due within the horizon "
        "from the database (what other replicas set, or one that crashed left)",
    )  # fmt: skip
    timer_horizon_seconds: float = Field(
        default=15.0, gt=0, le=3600,
        description="how far ahead a scan reads deadlines; more than the scan interval (each "
        "deadline is read about horizon / scan times: a longer one costs every replica more)",
    )  # fmt: skip
    timer_batch: int = Field(default=500, ge=1, le=10_000, description="timers fired at once")
    agent_token: SecretStr | None = Field(
        default=None, description="bearer token of the conversations API (reply, snooze, "
        "resolve, reopen); unset: it is off",
    )  # fmt: skip
    admin_token: SecretStr | None = Field(
        default=None, description="bearer token of the admin API (SLA policies, the simulated "
        "clock); unset: it is off",
    )  # fmt: skip
    priority_weight_seconds: float = Field(
        default=300.0, ge=0, le=86_400,
        description="how much earlier than its reply deadline a priority-100 fan's "
        "conversation comes up in the routing queue (a priority-50 fan's: half of it)",
    )  # fmt: skip
    vip_priority: int = Field(
        default=80, ge=0, le=101,
        description="a fan of this priority (from scoring) or more is a VIP: only agents who "
        "handle VIPs take their conversations (101: nobody is)",
    )  # fmt: skip
    heartbeat_timeout_seconds: float = Field(
        default=60.0, gt=0, le=3600,
        description="an agent without a heartbeat for this long is offline, and what they held "
        "waiting on an agent goes back to the queue",
    )  # fmt: skip
    push_routing: bool = Field(
        default=True,
        description="offer the queue's conversations to agents (accept, decline, or lapse); "
        "off: agents only claim",
    )
    offer_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="how long an offer waits for its agent"
    )
    offer_lapses_before_away: int = Field(
        default=2, ge=1, le=100,
        description="offers an agent lets lapse in a row before they are set away",
    )  # fmt: skip
    offer_interval_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how often waiting conversations are offered"
    )
    gauges_refresh_seconds: float = Field(
        default=15.0, gt=0, description="how often open conversations are counted for metrics"
    )
    metric_teams: int = Field(
        default=20, ge=0, le=200,
        description="teams with metric labels of their own (the largest by agents online); "
        "the others are counted as team \"other\"",
    )  # fmt: skip
