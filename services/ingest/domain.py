"""Platform-independent rules of the boundary: pure functions, no I/O."""

from collections.abc import Mapping

REDACTED = "[redacted]"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "cookie", "webhook-signature", "x-hub-signature", "x-hub-signature-256",
     "x-line-signature", "x-telegram-bot-api-secret-token", "x-twitter-webhooks-signature",
     "x-douyin-signature", "x-signature"}
)  # fmt: skip
SENSITIVE_QUERY = frozenset({"signature", "msg_signature", "hub.verify_token", "crc_token"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else value
        for name, value in headers.items()
    }


def redact_query(query: Mapping[str, str]) -> dict[str, str]:
    return {name: REDACTED if name in SENSITIVE_QUERY else value for name, value in query.items()}
