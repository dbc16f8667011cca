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
