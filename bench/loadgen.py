"""A closed-loop HTTP/1.1 load generator: `connections` keep-alive connections each send the
next prepared request as soon as the previous answer arrived. The same generator drives the
baseline and the system under test, so their ratio is fair."""

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    statuses: dict[int, int]
    latencies_ms: list[float]

    @classmethod
    def combined(cls, results: list["Result"]) -> "Result":
        """Several runs as one: their requests over their summed time."""
        statuses: dict[int, int] = {}
        for result in results:
            for status, count in result.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        return cls(sum(r.requests for r in results), sum(r.seconds for r in results), statuses,
                   [ms for r in results for ms in r.latencies_ms])  # fmt: skip

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(len(ordered) * p), len(ordered) - 1)]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)


def http_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """An answer's status and body (its length given by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def run(port: int, requests: list[bytes], *, connections: int) -> Result:
    cursor = iter(range(len(requests)))
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in cursor:
                started = time.perf_counter()
                writer.write(requests[index])
                status, _ = await read_answer(reader)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return Result(len(latencies), time.perf_counter() - started, statuses, latencies)
