from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class CouponsSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COUPONS_")
    service_name = "coupons"

    http_port: int = 8004
