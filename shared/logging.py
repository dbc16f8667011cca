"""Structured logs for the service and for the libraries it uses (uvicorn, aiokafka): JSON lines
for machines, or console lines for a person reading a terminal."""

import logging
import sys
from typing import TextIO

import structlog

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]
# The console renderer lays out tracebacks itself; JSON needs them flattened into a string first.
_JSON_RENDERING: list[structlog.types.Processor] = [
    structlog.processors.format_exc_info,
    structlog.processors.JSONRenderer(),
]


def use_json(json: bool | None, stream: TextIO) -> bool:
    """An explicit choice wins; without one, JSON unless `stream` is a terminal."""
    return json if json is not None else not stream.isatty()


def _console_renderer() -> structlog.types.Processor:
    # Plain tracebacks: the default pretty one prints every frame's local variables, secrets too.
    return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)


def configure_logging(*, service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Log to stdout as JSON lines or console lines; `json=None` picks by `use_json`."""
    stream = sys.stdout
    rendering = _JSON_RENDERING if use_json(json, stream) else [_console_renderer()]
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_PROCESSORS,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx/httpcore log every request URL at INFO, and some send APIs carry a token in theirs.
    for noisy in ("aiokafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
