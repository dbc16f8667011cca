"""WeCom (``wecom``): every push sealed, the URL check included (its ``echostr`` is a ciphertext
whose plaintext is the answer), and replies sent as an application's messages.

The URL check decrypts what it is given with the account's key and answers the plaintext: given a
captured push's ``<Encrypt>`` and ``msg_signature`` it would answer the message. So it answers
only within the timestamp window, and only a plaintext shaped like WeCom's echo."""

import time
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    FixedAcknowledgement,
    InboundRequest,
    PlatformAccount,
    PlatformAnswer,
    SendOutcome,
    VerificationError,
    echo,
)
from services.ingest.platforms.common import not_sent
from services.ingest.platforms.wechat.crypto import CryptoError, sha1_signature, signature_matches
from services.ingest.platforms.wechat.normalise import normalise_push
from services.ingest.platforms.wechat.send import TencentSender, TextMessage
from services.ingest.platforms.wechat.verify import (
    account_crypt,
    check_timestamp,
    open_sealed,
    query_params,
    text_answer,
    tolerance_of,
    wecom_echo,
)
from services.ingest.platforms.wechat.xml import PushedXml, read_xml
from shared.contracts import FanEvent, ReplyRequested
from shared.events import CloudEvent


class WeComAccount(PlatformAccount):
    platform: Literal["wecom"]
    corp_id: str = Field(min_length=1, max_length=64)
    token: SecretStr
    encoding_aes_key: SecretStr
    agent_id: int | None = None  # the app replies are sent from
    corp_secret: SecretStr | None = None  # that app's secret, for sending


class GetTokenApi:
    """Access tokens come from ``GET /cgi-bin/gettoken?corpid=…&corpsecret=…``: the corpsecret
    is a query parameter by WeCom's design (the API has no other form), so the URL must not be
    logged. ``gettoken`` has no forced-refresh mode."""

    token_path = "/cgi-bin/gettoken"  # noqa: S105 (a path)
    send_path = "/cgi-bin/message/send"
    can_force_refresh = False

    def credentials(self, account: WeComAccount) -> dict[str, str] | None:
        if account.corp_secret is None:
            return None
        return {"corpid": account.corp_id, "corpsecret": account.corp_secret.get_secret_value()}

    async def request_token(
        self, http: httpx.AsyncClient, url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> httpx.Response:  # fmt: skip
        return await http.get(url, params=credentials)

    def message(self, account: WeComAccount, reply: ReplyRequested) -> TextMessage | SendOutcome:
        if account.agent_id is None:
            return not_sent("the account has no agent_id to send from")
        return {"touser": reply.user_id, "msgtype": "text", "agentid": account.agent_id,
                "text": {"content": reply.text}}  # fmt: skip


class WeCom(FixedAcknowledgement):
    platforms: ClassVar[tuple[str, ...]] = ("wecom",)
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    secret_query: ClassVar[frozenset[str]] = frozenset({"msg_signature"})
    account_model: ClassVar[type[PlatformAccount]] = WeComAccount
    default_send_base_url: ClassVar[str] = "https://qyapi.weixin.qq.com"
    # an empty answer means "received, no passive reply"
    acknowledgement: ClassVar[PlatformAnswer] = text_answer(b"")

    def __init__(
        self, settings: IngestSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._tolerance = tolerance_of(settings)
        self._sender = TencentSender(GetTokenApi(), clock)

    def handshake(self, account: WeComAccount, request: InboundRequest) -> PlatformAnswer:
        signature, timestamp, nonce, echostr = query_params(
            request.query, "msg_signature", "timestamp", "nonce", "echostr"
        )
        expected = sha1_signature(account.token.get_secret_value(), timestamp, nonce, echostr)
        if not signature_matches(expected, signature):
            raise VerificationError("signature", "msg_signature does not match")
        check_timestamp(request, self._tolerance)
        try:
            plain = account_crypt(account.encoding_aes_key, account.corp_id).decrypt(echostr)
        except CryptoError as exc:
            raise VerificationError("signature", f"echostr does not open: {exc}") from None
        return echo(wecom_echo(plain))

    def verify(self, account: WeComAccount, request: InboundRequest) -> bytes:
        return open_sealed(
            token=account.token.get_secret_value(),
            crypt=account_crypt(account.encoding_aes_key, account.corp_id),
            query=request.query, body=request.body,
        )  # fmt: skip

    def normalise(
        self, account: WeComAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        msg = read_xml(PushedXml, request.body)
        return normalise_push(msg, platform="wecom", account=account.account_id,
                              request=request, thread_ref=msg.AgentID)  # fmt: skip

    async def send(
        self, account: WeComAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        return await self._sender.send(account, reply, http=http, base_url=base_url)
