import logging

import pytest

from shared.logging import configure_logging


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_http_client_request_lines_are_not_logged(level: str) -> None:
    """httpx logs every request URL at INFO; some send APIs carry a token in theirs."""
    configure_logging(service="test", level=level, json=True)
    for name in ("httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
