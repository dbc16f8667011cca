"""What both platforms check of a request: the query parameters a signature needs, the freshness
of its timestamp, and a sealed push's ``msg_signature`` over its ``<Encrypt>`` before that is
opened."""

import re
from collections.abc import Mapping
from datetime import timedelta

from pydantic import SecretStr

from services.ingest.config import IngestSettings
from services.ingest.platforms.base import (
    InboundRequest,
    MalformedPayload,
    PlatformAnswer,
    VerificationError,
)
from services.ingest.platforms.common import check_fresh
from services.ingest.platforms.wechat.crypto import (
    CryptoError,
    MessageCrypt,
    sha1_signature,
    signature_matches,
)
from services.ingest.platforms.wechat.xml import Envelope, read_xml

MAX_ECHO = 1_024
DEFAULT_TOLERANCE = timedelta(
    seconds=IngestSettings.model_fields["webhook_tolerance_seconds"].default
)
# What WeCom seals into its URL check: a random string of digits (the published sample's is
# 1616140317555161061; the documentation says only "random"). A pushed message (XML) or a
# robot's event (JSON) is never this, so a captured push's <Encrypt> does not pass for one.
WECOM_ECHO = re.compile(rb"[0-9A-Za-z]{1,64}")


def tolerance_of(settings: IngestSettings | None) -> timedelta:
    """The settings' timestamp window (the default one for an adapter built without settings)."""
    if settings is None:
        return DEFAULT_TOLERANCE
    return timedelta(seconds=settings.webhook_tolerance_seconds)


def check_timestamp(request: InboundRequest, tolerance: timedelta) -> None:
    """A signature whose timestamp is outside the window is worth nothing: VerificationError
    ``stale_timestamp`` (or ``signature`` if it is not seconds since the epoch)."""
    check_fresh(request.query["timestamp"], now=request.received_at, tolerance=tolerance)


def wecom_echo(plain: bytes) -> bytes:
    """The opened ``echostr`` of a WeCom URL check, if it is shaped like one; else
    VerificationError: answering any other plaintext would open captured pushes for anyone."""
    if WECOM_ECHO.fullmatch(plain) is None:
        raise VerificationError("signature", "echostr does not open to a URL check's echo")
    return plain


def query_params(query: Mapping[str, str], *names: str) -> list[str]:
    """The values of ``names``, all required; raises VerificationError."""
    values = [query.get(name, "") for name in names]
    if not all(values):
        raise VerificationError("signature", f"{', '.join(names)} are required")
    if any(len(v) > MAX_ECHO * 4 for v in values):
        raise VerificationError("signature", "query parameter too long")
    return values


def open_sealed(*, token: str, crypt: MessageCrypt, query: Mapping[str, str], body: bytes) -> bytes:
    """Check ``msg_signature`` over the body's ``<Encrypt>`` and open it; raises
    VerificationError (an unreadable envelope cannot be verified, so it is refused as such)."""
    signature, timestamp, nonce = query_params(query, "msg_signature", "timestamp", "nonce")
    try:
        envelope = read_xml(Envelope, body)
    except MalformedPayload as exc:
        raise VerificationError("signature", f"no readable <Encrypt>: {exc}") from None
    expected = sha1_signature(token, timestamp, nonce, envelope.Encrypt)
    if not signature_matches(expected, signature):
        raise VerificationError("signature", "msg_signature does not match")
    try:
        return crypt.decrypt(envelope.Encrypt)
    except CryptoError as exc:
        raise VerificationError("signature", f"<Encrypt> does not open: {exc}") from None


def account_crypt(encoding_aes_key: SecretStr, receive_id: str) -> MessageCrypt:
    """The crypt of one account; an EncodingAESKey that is no key refuses the request."""
    try:
        return MessageCrypt(encoding_aes_key.get_secret_value(), receive_id)
    except ValueError:
        raise VerificationError("signature", "the account's EncodingAESKey is invalid") from None


def text_answer(text: bytes) -> PlatformAnswer:
    return PlatformAnswer(body=text, media_type="text/plain")
