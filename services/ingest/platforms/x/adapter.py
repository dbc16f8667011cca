"""The adapter ingest registers for X: the Account Activity API in, DMs out."""

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
from services.ingest.platforms.x.account import PLATFORM, XAccount
from services.ingest.platforms.x.normalise import push_events
from services.ingest.platforms.x.send import send_reply
from services.ingest.platforms.x.verification import (
    SIGNATURE_HEADER,
    answer_crc,
    verify_x_signature,
)
from shared.contracts import FanEvent, ReplyRequested
from shared.events import CloudEvent


class XAccountActivity(FixedAcknowledgement):
    secret_headers: ClassVar[frozenset[str]] = frozenset({SIGNATURE_HEADER})
    secret_query: ClassVar[frozenset[str]] = frozenset({"crc_token"})
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    account_model: ClassVar[type[PlatformAccount]] = XAccount
    default_send_base_url: ClassVar[str] = "https://api.x.com"
    acknowledgement: ClassVar[PlatformAnswer] = PlatformAnswer(
        body=b"{}", media_type="application/json"
    )

    def handshake(self, account: XAccount, request: InboundRequest) -> PlatformAnswer:
        return answer_crc(
            consumer_secret=account.consumer_secret.get_secret_value(), query=request.query
        )

    def verify(self, account: XAccount, request: InboundRequest) -> None:
        verify_x_signature(
            consumer_secret=account.consumer_secret.get_secret_value(),
            headers=request.headers, body=request.body,
        )  # fmt: skip

    def normalise(
        self, account: XAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        return push_events(account, request)

    async def send(
        self, account: XAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        """One DM; X's DM API has no idempotency key (see `send_reply`)."""
        return await send_reply(account, reply, http=http, base_url=base_url)
