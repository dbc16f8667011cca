from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class CouponsSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COUPONS_")
    service_name = "coupons"

    http_port: int = 8004
    operator_token: SecretStr | None = Field(
        default=None,
        description="bearer token of the operator API (campaigns, packets issued by hand, "
        "brand accounts' API keys); unset: it is off",
    )
    expiry_interval_seconds: float = Field(
        default=15.0, gt=0, description="how often the sweep looks for packets whose window closed"
    )
    expiry_batch: int = Field(
        default=200, ge=1, le=10_000, description="packets returned per sweep transaction"
    )
    invariants_interval_seconds: float = Field(
        default=300.0, gt=0, description="how often the money invariants are recomputed"
    )
    budget_gauges_interval_seconds: float = Field(
        default=30.0, gt=0, description="how often the budget gauges are refreshed"
    )
    budget_low_share: float = Field(
        default=0.1, gt=0, lt=1, description="a campaign's budget is low under this share left"
    )
    claim_batch_max: int = Field(
        default=64, ge=1, le=1_000, description="claims of the door written in one transaction"
    )
    claim_batches_in_flight: int = Field(
        default=4, ge=1, le=64,
        description="batches of claims committing at once (each holds a database connection)",
    )  # fmt: skip
    claim_link_secret: SecretStr | None = Field(
        default=None, min_length=32,
        description="the secret claim links are signed with (each brand account's key is "
        "derived from it); unset: the claim page and its links are off",
    )  # fmt: skip
    claim_link_max_seconds: int = Field(
        default=86_400,
        ge=60,
        le=7 * 86_400,
        description="the longest a claim link may stay valid",
    )
    public_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="coupons' public address, which claim links begin with "
        "(unset: the address the request came to)",
    )
