"""Proving a request is X's: the CRC handshake and ``x-twitter-webhooks-signature``."""

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping

from services.ingest.platforms.base import PlatformAnswer, VerificationError, echo

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
# X signs pushes with the HMAC it asks of the CRC answer, so answering a crc_token signs it as a
# push body. A push is a JSON object: a token without braces can never be one, whatever else it
# holds (X's tokens are URL-safe, and "&" arrives percent-encoded). Visible ASCII, 256 at most.
CRC_TOKEN = re.compile(r"[!-z|~]{1,256}")  # "!" to "~" without "{" and "}"


def x_signature(consumer_secret: str, message: bytes) -> str:
    """``sha256=<base64 HMAC-SHA256>``: the CRC response token and the POST signature alike."""
    digest = hmac.new(consumer_secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def answer_crc(*, consumer_secret: str, query: Mapping[str, str]) -> PlatformAnswer:
    """The CRC handshake: ``{"response_token": x_signature(crc_token)}``."""
    crc_token = query.get("crc_token", "")
    if not CRC_TOKEN.fullmatch(crc_token):  # it could spell a forged push body
        raise VerificationError(
            "unsupported", "a GET must carry a crc_token: visible ASCII, no braces, 256 at most"
        )
    token = x_signature(consumer_secret, crc_token.encode())
    body = json.dumps({"response_token": token}).encode()
    return echo(body, media_type="application/json")


def verify_x_signature(*, consumer_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Check the signature over the exact bytes received (constant-time)."""
    signature = headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise VerificationError("signature", f"{SIGNATURE_HEADER} is required")
    expected = x_signature(consumer_secret, body)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise VerificationError("signature", f"{SIGNATURE_HEADER} does not match the body")
