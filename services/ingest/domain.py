"""Platform-independent rules of the boundary: pure functions, no I/O."""

from collections.abc import Mapping

REDACTED = "[redacted]"
# Credentials whatever the platform; each adapter names its own signature headers and query
# parameters (`secret_headers`, `secret_query`).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-signature"})


def redact_headers(
    headers: Mapping[str, str], secret: frozenset[str] = frozenset()
) -> dict[str, str]:
    """`headers` with credentials and the `secret` ones (lower-case names) redacted."""
    return {
        name: REDACTED if (lowered := name.lower()) in CREDENTIAL_HEADERS or lowered in secret
        else value
        for name, value in headers.items()
    }  # fmt: skip


def redact_query(query: Mapping[str, str], secret: frozenset[str]) -> dict[str, str]:
    return {name: REDACTED if name in secret else value for name, value in query.items()}
