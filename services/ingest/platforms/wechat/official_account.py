"""WeChat Official Accounts (``wechat``): pushes in plain mode (signed over the query only, so
checked for freshness) or sealed (safe and compatible mode), and replies through the
customer-service API with a stable access token."""

import time
from collections.abc import Callable, Mapping, Sequence
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
from services.ingest.platforms.wechat.crypto import sha1_signature, signature_matches
from services.ingest.platforms.wechat.normalise import normalise_push
from services.ingest.platforms.wechat.send import TencentSender, TextMessage
from services.ingest.platforms.wechat.verify import (
    MAX_ECHO,
    account_crypt,
    check_timestamp,
    open_sealed,
    query_params,
    text_answer,
    tolerance_of,
)
from services.ingest.platforms.wechat.xml import PushedXml, read_xml
from shared.contracts import FanEvent, ReplyRequested
from shared.events import CloudEvent


class WeChatAccount(PlatformAccount):
    platform: Literal["wechat"]
    app_id: str = Field(min_length=1, max_length=64)
    token: SecretStr
    encoding_aes_key: SecretStr | None = None  # safe mode; required for it
    app_secret: SecretStr | None = None  # for sending


class StableTokenApi:
    """Access tokens come from ``POST /cgi-bin/stable_token`` (getStableAccessToken), the
    AppSecret in the JSON body. Normal mode (``force_refresh: false``) returns the token still
    valid, the same to every replica; a forced refresh invalidates it for all of them, so it is
    only asked for when a normal fetch hands back the very token the send API just refused."""

    token_path = "/cgi-bin/stable_token"  # noqa: S105 (a path)
    send_path = "/cgi-bin/message/custom/send"
    can_force_refresh = True

    def credentials(self, account: WeChatAccount) -> dict[str, str] | None:
        if account.app_secret is None:
            return None
        return {"grant_type": "client_credential", "appid": account.app_id,
                "secret": account.app_secret.get_secret_value()}  # fmt: skip

    async def request_token(
        self, http: httpx.AsyncClient, url: str, credentials: dict[str, str], *,
        force_refresh: bool,
    ) -> httpx.Response:  # fmt: skip
        return await http.post(url, json={**credentials, "force_refresh": force_refresh})

    def message(self, account: WeChatAccount, reply: ReplyRequested) -> TextMessage:
        return {"touser": reply.user_id, "msgtype": "text", "text": {"content": reply.text}}


class WeChatOfficialAccount(FixedAcknowledgement):
    platforms: ClassVar[tuple[str, ...]] = ("wechat",)
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    secret_query: ClassVar[frozenset[str]] = frozenset({"signature", "msg_signature"})
    account_model: ClassVar[type[PlatformAccount]] = WeChatAccount
    default_send_base_url: ClassVar[str] = "https://api.weixin.qq.com"
    acknowledgement: ClassVar[PlatformAnswer] = text_answer(b"success")

    def __init__(
        self, settings: IngestSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._tolerance = tolerance_of(settings)
        self._sender = TencentSender(StableTokenApi(), clock)

    def handshake(self, account: WeChatAccount, request: InboundRequest) -> PlatformAnswer:
        self._check_plain_signature(account, request.query)
        # The same signature as a plain-mode push's: an old one is no more proof here.
        check_timestamp(request, self._tolerance)
        echostr = request.query.get("echostr", "")
        if not echostr or len(echostr) > MAX_ECHO:
            raise VerificationError("signature", "echostr is required")
        return echo(echostr.encode())

    def verify(self, account: WeChatAccount, request: InboundRequest) -> bytes:
        """The push's message XML: the opened ``<Encrypt>`` in safe/compatible mode, else the
        body as received (plain mode, refused for accounts that have an EncodingAESKey)."""
        if _sealed(request):
            if account.encoding_aes_key is None:
                raise VerificationError("signature", "encrypted push, but no EncodingAESKey")
            return open_sealed(
                token=account.token.get_secret_value(),
                crypt=account_crypt(account.encoding_aes_key, account.app_id),
                query=request.query, body=request.body,
            )  # fmt: skip
        if account.encoding_aes_key is not None:
            raise VerificationError("signature", "this account only accepts encrypted pushes")
        self._check_plain_signature(account, request.query)
        # The signature does not cover the body: only a fresh one is worth anything.
        check_timestamp(request, self._tolerance)
        return request.body

    def signed_without_body(self, account: WeChatAccount, request: InboundRequest) -> str | None:
        """A plain-mode push's signature, and a URL check's, covers token, timestamp and nonce
        only; a sealed push's ``msg_signature`` covers its body."""
        if request.method == "POST" and _sealed(request):
            return None
        _, timestamp, nonce = query_params(request.query, "signature", "timestamp", "nonce")
        return sha1_signature(account.token.get_secret_value(), timestamp, nonce)

    def normalise(
        self, account: WeChatAccount, request: InboundRequest
    ) -> Sequence[CloudEvent[FanEvent]]:
        msg = read_xml(PushedXml, request.body)
        return normalise_push(msg, platform="wechat", account=account.account_id,
                              request=request)  # fmt: skip

    async def send(
        self, account: WeChatAccount, reply: ReplyRequested, *, http: httpx.AsyncClient,
        base_url: str,
    ) -> SendOutcome:  # fmt: skip
        return await self._sender.send(account, reply, http=http, base_url=base_url)

    def _check_plain_signature(self, account: WeChatAccount, query: Mapping[str, str]) -> None:
        signature, timestamp, nonce = query_params(query, "signature", "timestamp", "nonce")
        expected = sha1_signature(account.token.get_secret_value(), timestamp, nonce)
        if not signature_matches(expected, signature):
            raise VerificationError("signature", "signature does not match")


def _sealed(request: InboundRequest) -> bool:
    """Safe or compatible mode: the body is an ``<Encrypt>`` signed with ``msg_signature``."""
    return request.query.get("encrypt_type", "raw").lower() == "aes"
