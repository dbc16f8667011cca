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
