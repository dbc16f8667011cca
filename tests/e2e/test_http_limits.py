"""The limits at the door, through a real server: uvicorn with ingest's app and the config
`shared.service.serve` runs, spoken to over raw sockets as a hostile client would."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from stack.embedded import free_port
from tests.e2e.conftest import ACCOUNT
from tests.helpers import message_payload, serving, signed_webhook

pytestmark = pytest.mark.e2e
WEBHOOK = f"/v1/webhooks/standard/{ACCOUNT}"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: ingest\r\n\r\n"
MARGIN_SECONDS = 1.5  # the sweep's period and a loaded machine's delays

LimitedSettings = Callable[..., IngestSettings]
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def limited_settings(settings_for: Callable[..., Any], accounts_file: Path) -> LimitedSettings:
    def make(**limits: Any) -> IngestSettings:
        settings: IngestSettings = settings_for(
            IngestSettings, accounts_file=accounts_file, http_port=free_port(), **limits
        )
        return settings

    return make


@asynccontextmanager
async def serving_ingest(settings: IngestSettings) -> AsyncIterator[int]:
    """ingest served as in production, on a free port, with its whole lifespan."""
    async with serving(create_app(settings), settings) as port:
        yield port


async def connect(port: int) -> Connection:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_answer(reader: asyncio.StreamReader, *, within: float = 5.0) -> Answer:
    async with asyncio.timeout(within):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(status_line.split(" ")[1]), headers, body)


async def closed_by_server(reader: asyncio.StreamReader, *, within: float = 5.0) -> bool:
    """Whether the server closes the connection (nothing more to read) within `within`."""
    async with asyncio.timeout(within):
        return await reader.read() == b""


async def exchange(port: int, request: bytes) -> Answer:
    """One request on a connection of its own, which the server closes once it answered."""
    reader, writer = await connect(port)
    try:
        writer.write(request)
        answer = await read_answer(reader)
        assert await closed_by_server(reader)
        return answer
    finally:
        writer.close()


async def refusals(port: int, reason: str) -> float:
    """`scrm_http_refused_total{service="ingest", reason=…}` as the server's /metrics shows it."""
    request = b"GET /metrics HTTP/1.1\r\nhost: ingest\r\nconnection: close\r\n\r\n"
    text = (await exchange(port, request)).body.decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "scrm_http_refused_total"
        and sample.labels == {"service": "ingest", "reason": reason}
    )


@contextlib.contextmanager
def trickling(writer: asyncio.StreamWriter, data: bytes, *, every: float) -> Iterator[None]:
    """Sends `data` a byte at a time, as a slow client does, for as long as the block runs."""

    async def trickle() -> None:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)  # the client's pace, not a wait for the server

    task = asyncio.create_task(trickle())
    try:
        yield
    finally:
        task.cancel()


def head_of(size: int) -> bytes:
    """A whole GET /healthz head of exactly `size` bytes."""
    start, end = b"GET /healthz HTTP/1.1\r\nhost: ingest\r\nx-filler: ", b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


class TestHeadSize:
    async def test_a_head_past_the_limit_is_answered_431_before_the_client_has_sent_it_all(
        self, limited_settings: LimitedSettings
    ) -> None:
        async with serving_ingest(limited_settings(http_max_head_bytes=64 * 1024)) as port:
            before = await refusals(port, "head_too_large")
            reader, writer = await connect(port)
            # 1 MiB of headers with no end: the server may not wait for one, nor keep them.
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: ingest\r\n")
            writer.writelines(b"x-filler-%d: %s\r\n" % (n, b"a" * 16_000) for n in range(64))
            answer = await read_answer(reader)
            assert answer.status == 431
            assert answer.headers["connection"] == "close"
            assert await closed_by_server(reader)
            writer.close()
            assert await refusals(port, "head_too_large") == before + 1

    async def test_a_head_one_byte_past_the_limit_is_refused_and_one_at_the_limit_served(
        self, limited_settings: LimitedSettings
    ) -> None:
        async with serving_ingest(limited_settings(http_max_head_bytes=8 * 1024)) as port:
            assert (await exchange(port, head_of(8 * 1024 + 1))).status == 431
            reader, writer = await connect(port)
            writer.write(head_of(8 * 1024))
            assert (await read_answer(reader)).status == 200
            writer.close()


class TestSlowClients:
    async def test_a_head_not_received_within_the_head_timeout_gets_408_and_is_closed(
        self, limited_settings: LimitedSettings
    ) -> None:
        async with serving_ingest(limited_settings(http_head_timeout_seconds=1.0)) as port:
            before = await refusals(port, "head_timeout")
            started = time.monotonic()
            (silent_reader, silent), (slow_reader, slow) = await connect(port), await connect(port)
            unending_head = b"GET /healthz HTTP/1.1\r\nhost: ingest\r\nx-slow: " + b"a" * 100
            with trickling(slow, unending_head, every=0.05):
                for reader in (silent_reader, slow_reader):
                    assert (await read_answer(reader, within=1 + MARGIN_SECONDS)).status == 408
                    assert await closed_by_server(reader)
            assert 1.0 <= time.monotonic() - started <= 1 + MARGIN_SECONDS
            silent.close()
            slow.close()
            assert await refusals(port, "head_timeout") == before + 2

    async def test_a_body_not_received_within_the_body_timeout_gets_408_and_is_closed(
        self, limited_settings: LimitedSettings
    ) -> None:
        async with serving_ingest(limited_settings(http_body_timeout_seconds=1.0)) as port:
            before = await refusals(port, "body_timeout")
            body, headers = signed_webhook(message_payload("fan-1", "m-1"))
            head = f"POST {WEBHOOK} HTTP/1.1\r\nhost: ingest\r\ncontent-length: {len(body)}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            reader, writer = await connect(port)
            writer.write(head.encode() + b"\r\n")
            started = time.monotonic()
            with trickling(writer, body, every=0.05):
                assert (await read_answer(reader, within=1 + MARGIN_SECONDS)).status == 408
                assert await closed_by_server(reader)
            assert 1.0 <= time.monotonic() - started <= 1 + MARGIN_SECONDS
            writer.close()
            assert await refusals(port, "body_timeout") == before + 1


class TestConnectionLimit:
    async def test_past_the_limit_a_connection_is_refused_at_once_and_admitted_once_others_close(
        self, limited_settings: LimitedSettings
    ) -> None:
        async with serving_ingest(limited_settings(http_max_connections=5)) as port:
            before = await refusals(port, "too_many_connections")
            admitted = [await connect(port) for _ in range(5)]
            await answered_200_on_each(admitted)
            reader, writer = await connect(port)
            assert (await read_answer(reader, within=2)).status == 503
            assert await closed_by_server(reader, within=2)
            writer.close()
            await answered_200_on_each(admitted)  # the first five are still served
            for reader, writer in admitted:
                writer.write_eof()
                assert await closed_by_server(reader)
                writer.close()
            assert (await exchange(port, connection_close(HEALTHZ))).status == 200
            assert await refusals(port, "too_many_connections") == before + 1


async def answered_200_on_each(connections: list[Connection]) -> None:
    for reader, writer in connections:
        writer.write(HEALTHZ)
        assert (await read_answer(reader)).status == 200


def connection_close(request: bytes) -> bytes:
    return request.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)


class TestWebhooksStillPass:
    async def test_a_signed_webhook_is_accepted_through_the_limited_server(
        self, limited_settings: LimitedSettings
    ) -> None:
        async with serving_ingest(limited_settings()) as port:
            body, headers = signed_webhook(message_payload("fan-1", "m-1"))
            head = f"POST {WEBHOOK} HTTP/1.1\r\nhost: ingest\r\nconnection: close\r\n"
            head += f"content-length: {len(body)}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            answer = await exchange(port, head.encode() + b"\r\n" + body)
            assert answer.status == 200, answer.body
            assert b"accepted" in answer.body


class TestLimitSettings:
    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("http_max_head_bytes", 0),
            ("http_max_head_bytes", 64 * 1024 * 1024),
            ("http_head_timeout_seconds", 0),
            ("http_body_timeout_seconds", -1),
            ("http_body_timeout_seconds", 86_400),
            ("http_max_connections", 0),
        ],
    )
    def test_a_limit_out_of_bounds_stops_the_start_naming_the_setting(
        self, name: str, value: float
    ) -> None:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": "kafka:9092",
            "database_url": "postgresql+asyncpg://u:p@db/scrm",
            name: value,
        }
        with pytest.raises(ValidationError, match=name):
            IngestSettings(**values)
