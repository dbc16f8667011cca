"""The adapter ingest registers for Meta: one for Messenger, Instagram and WhatsApp."""

from collections.abc import Sequence
from typing import ClassVar

import httpx

from services.ingest.platforms.base import (
    FixedAcknowledgement,
    InboundRequest,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
)
from services.ingest.platforms.meta.account import PLATFORMS, MetaAccount
from services.ingest.platforms.meta.normalise import push_events
from services.ingest.platforms.meta.send import send_reply
from services.ingest.platforms.meta.verification import (
    SIGNATURE_HEADER,
    answer_challenge,
    verify_meta_signature,
)
from shared.contracts import FanEvent, ReplyRequested
from shared.events import CloudEvent


class MetaWebhooks(FixedAcknowledgement):
    """Messenger, Instagram and WhatsApp: inbound webhooks and the Send / Cloud API.

    Meta's send APIs take no idempotency key: delivery is at-least-once. The outbound table
    sends each reply once; only a crash between the API's answer and recording it sends twice.
    """

    secret_headers: ClassVar[frozenset[str]] = frozenset({SIGNATURE_HEADER, "x-hub-signature"})
    secret_query: ClassVar[frozenset[str]] = frozenset({"hub.verify_token"})

    platforms: ClassVar[tuple[str, ...]] = PLATFORMS
    account_model: ClassVar[type[PlatformAccount]] = MetaAccount
    default_send_base_url: ClassVar[str] = "https://graph.facebook.com"
    acknowledgement: ClassVar[PlatformAnswer] = PlatformAnswer(body=b"EVENT_RECEIVED")

    def handshake(self, account: MetaAccount, request: InboundRequest) -> PlatformAnswer:
        return answer_challenge(
            verify_token=account.verify_token.get_secret_value(), query=request.query
        )

    def verify(self, account: MetaAccount, request: InboundRequest) -> None:
        verify_meta_signature(
            app_secret=account.app_secret.get_secret_value(), headers=request.headers,
            body=request.body,
        )  # fmt: skip

    def normalise(
        self, account: MetaAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        return push_events(account, request)

    async def send(
        self, account: MetaAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One POST to the Send API (Messenger, Instagram) or the Cloud API (WhatsApp)."""
        return await send_reply(account, reply, http=http, base_url=base_url)
