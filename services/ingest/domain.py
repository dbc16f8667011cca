"""Platform wire formats and their verification: pure functions, no I/O."""

from collections.abc import Mapping

REDACTED = "[redacted]"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "cookie", "webhook-signature", "x-hub-signature-256", "x-line-signature",
     "x-telegram-bot-api-secret-token", "x-twitter-webhooks-signature", "x-signature"}
)  # fmt: skip


class VerificationError(Exception):
    """The request is not provably from the platform. `reason` is stable, `str()` is for humans."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else value
        for name, value in headers.items()
    }
