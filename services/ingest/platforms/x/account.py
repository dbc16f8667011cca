"""An X account: the subscribed user, the app's consumer secret, and the token it sends with."""

from typing import Final, Literal

from pydantic import Field, SecretStr

from services.ingest.platforms.base import PlatformAccount

PLATFORM: Final = "x"


class XAccount(PlatformAccount):
    platform: Literal["x"]
    user_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")
    consumer_secret: SecretStr
    access_token: SecretStr | None = None  # OAuth 2 user context, dm.write: for sending
