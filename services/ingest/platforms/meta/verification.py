"""Proving a request is Meta's: the subscription handshake and X-Hub-Signature-256."""

import hashlib
import hmac
from collections.abc import Mapping

from services.ingest.platforms.base import PlatformAnswer, VerificationError, echo

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="
MAX_CHALLENGE = 1024


def meta_signature(app_secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(app_secret, body)>``, the value of X-Hub-Signature-256."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_meta_signature(*, app_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Check X-Hub-Signature-256 over the exact bytes received (constant-time)."""
    header = headers.get(SIGNATURE_HEADER, "").strip()
    if not header:
        raise VerificationError("signature", "X-Hub-Signature-256 is required")
    if not header[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        raise VerificationError("signature", "X-Hub-Signature-256 is not sha256=<hex>")
    candidate = header[len(SIGNATURE_PREFIX) :].lower().encode("utf-8", "replace")
    expected = meta_signature(app_secret, body)[len(SIGNATURE_PREFIX) :].encode()
    if not hmac.compare_digest(candidate, expected):
        raise VerificationError("signature", "X-Hub-Signature-256 does not match the body")


def answer_challenge(*, verify_token: str, query: Mapping[str, str]) -> PlatformAnswer:
    """The subscription handshake: echo ``hub.challenge`` when the verify token matches."""
    mode = query.get("hub.mode", "")
    token = query.get("hub.verify_token", "")
    challenge = query.get("hub.challenge", "")
    token_ok = hmac.compare_digest(token.encode(), verify_token.encode())
    if mode != "subscribe" or not token_ok:
        raise VerificationError("signature", "hub.mode or hub.verify_token does not match")
    if not challenge or len(challenge) > MAX_CHALLENGE:
        raise VerificationError("signature", "hub.challenge is missing or too long")
    return echo(challenge.encode())
