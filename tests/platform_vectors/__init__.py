"""Webhook test vectors, one module per platform, each exporting ``CASES``.

A case is a whole HTTP request as the platform sends it (from its documentation or its SDK's
test suite where one is published), the account that must be configured for it, and what
ingest must answer and produce. ``tests/e2e/test_platform_vectors.py`` replays every case over
HTTP against a running ingest on a real broker; a case with ``body_signed`` is also replayed with
one body byte flipped, which must be refused.
"""

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WebhookCase:
    name: str
    platform: str  # the webhook path's platform segment
    account: dict[str, Any]  # the accounts-file entry ("platform" and "account_id" included)
    method: str
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    answer: bytes | None = None  # the exact response body, where the platform expects one
    event_types: tuple[str, ...] = ()  # the canonical events it must produce, in order
    body_signed: bool = False  # flipping a body byte must be refused (401/403)
    source: str = ""  # where the vector comes from

    @property
    def account_id(self) -> str:
        return str(self.account["account_id"])

    @property
    def path(self) -> str:
        return f"/v1/webhooks/{self.platform}/{self.account_id}"


def all_cases() -> list[WebhookCase]:
    cases: list[WebhookCase] = []
    for module in pkgutil.iter_modules(__path__):
        cases.extend(importlib.import_module(f"{__name__}.{module.name}").CASES)
    return cases
