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
