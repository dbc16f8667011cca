from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class ResponderSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RESPONDER_")
    service_name = "responder"

    http_port: int = 8003
