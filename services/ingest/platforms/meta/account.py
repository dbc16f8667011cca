"""A Meta account: which of the three products it is, its secrets, and the Meta object it is."""

from collections.abc import Mapping
from typing import Literal

from pydantic import SecretStr

from services.ingest.platforms.base import PlatformAccount

MetaPlatform = Literal["messenger", "instagram", "whatsapp"]
PLATFORMS: tuple[MetaPlatform, ...] = ("messenger", "instagram", "whatsapp")
# The ``object`` of a push for each product.
OBJECTS: Mapping[MetaPlatform, str] = {
    "messenger": "page", "instagram": "instagram", "whatsapp": "whatsapp_business_account",
}  # fmt: skip


class MetaAccount(PlatformAccount):
    """A Facebook page, an Instagram professional account or a WhatsApp phone number id."""

    platform: MetaPlatform
    app_secret: SecretStr
    verify_token: SecretStr
    access_token: SecretStr | None = None  # page access token / WhatsApp system-user token
    # The Meta object this account is: the Page id (messenger), the Instagram professional
    # account id (instagram), the WhatsApp phone_number_id (whatsapp). Set it when one app
    # serves several of them: entries for other objects are then skipped. None: every entry of a
    # push is credited to this account.
    object_id: str | None = None
