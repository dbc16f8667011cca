"""The HTTP metrics middleware keeps its labels bounded and tells a client that left (499) from
a server error (500)."""

from collections.abc import MutableMapping
from typing import Any

import pytest

from shared.metrics import HTTP_REQUESTS
from shared.ops import HttpMetricsMiddleware


def count(**labels: str) -> float:
    value = HTTP_REQUESTS.labels(**labels)._value.get()
    return float(value)


async def _call(app: Any, method: str) -> None:
    scope = {"type": "http", "method": method, "path": "/x", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    await HttpMetricsMiddleware(app, service="unit")(scope, receive, send)


async def test_a_request_the_client_left_is_499_and_an_odd_method_is_other() -> None:
    async def walks_away(scope: Any, receive: Any, send: Any) -> None:
        return None

    before = count(service="unit", method="other", route="unmatched", status="499")
    await _call(walks_away, "BREW")
    assert count(service="unit", method="other", route="unmatched", status="499") == before + 1


async def test_an_exception_is_500() -> None:
    async def fails(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    before = count(service="unit", method="GET", route="unmatched", status="500")
    with pytest.raises(RuntimeError):
        await _call(fails, "GET")
    assert count(service="unit", method="GET", route="unmatched", status="500") == before + 1
