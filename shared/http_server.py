"""The HTTP server every service runs: uvicorn with httptools, and limits at the door.

uvicorn bounds neither a request's head (httptools keeps a header value growing until it ends:
50 MB of headers were taken in) nor the time a client takes to send its head or its body, and it
takes in any number of connections. `DoorProtocol` is uvicorn's httptools protocol with those
bounds, at the cost of a few attribute writes per request: a head is counted as its bytes arrive,
one sweep per server (not a timer per request) ends connections past their deadline, and a
connection past the maximum is refused as it opens. Every refusal is counted in
`scrm_http_refused_total{service, reason}`.

uvicorn's own `limit_concurrency` is left off: it answers 503 only once the whole head has been
read and buffered, and counts running requests along with connections, so it neither keeps an
idle or slow connection from holding its buffers nor tells an operator which limit was hit.
"""

import asyncio
import enum
import math
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import uvicorn
from prometheus_client import Counter
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared import metrics
from shared.settings import BaseServiceSettings

# After a refusal the connection reads and drops what the client still sends for this long
# before it closes: closing with the client's data unread resets the connection, and a reset can
# reach the client before the answer does.
LINGER_SECONDS = 2.0
MAX_SWEEP_INTERVAL_SECONDS = 1.0


class Refusal(enum.StrEnum):
    HEAD_TOO_LARGE = "head_too_large"
    HEAD_TIMEOUT = "head_timeout"
    BODY_TIMEOUT = "body_timeout"
    TOO_MANY_CONNECTIONS = "too_many_connections"


ANSWERS = {
    Refusal.HEAD_TOO_LARGE: HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
    Refusal.HEAD_TIMEOUT: HTTPStatus.REQUEST_TIMEOUT,
    Refusal.BODY_TIMEOUT: HTTPStatus.REQUEST_TIMEOUT,
    Refusal.TOO_MANY_CONNECTIONS: HTTPStatus.SERVICE_UNAVAILABLE,
}


@dataclass(frozen=True)
class DoorLimits:
    max_head_bytes: int
    head_timeout_seconds: float
    body_timeout_seconds: float
    max_connections: int

    @classmethod
    def of(cls, settings: BaseServiceSettings) -> "DoorLimits":
        return cls(
            max_head_bytes=settings.http_max_head_bytes,
            head_timeout_seconds=settings.http_head_timeout_seconds,
            body_timeout_seconds=settings.http_body_timeout_seconds,
            max_connections=settings.http_max_connections,
        )


class Door:
    """The open connections of one server, the sweep that ends those past their deadline, and
    the count of refusals."""

    def __init__(self, limits: DoorLimits, *, service: str) -> None:
        self.limits = limits
        self._open: set[DoorProtocol] = set()
        self._refusals: dict[Refusal, Counter] = {
            refusal: metrics.HTTP_REFUSED.labels(service, refusal) for refusal in Refusal
        }
        shortest = min(limits.head_timeout_seconds, limits.body_timeout_seconds, LINGER_SECONDS)
        self._sweep_interval = min(MAX_SWEEP_INTERVAL_SECONDS, shortest / 4)
        self._sweep_timer: asyncio.TimerHandle | None = None

    def admit(self, connection: "DoorProtocol") -> bool:
        if len(self._open) >= self.limits.max_connections:
            return False
        self._open.add(connection)
        if self._sweep_timer is None:  # the sweep runs while any connection is open
            self._sweep_timer = connection.loop.call_later(self._sweep_interval, self._sweep)
        return True

    def release(self, connection: "DoorProtocol") -> None:
        self._open.discard(connection)

    def count(self, refusal: Refusal) -> None:
        self._refusals[refusal].inc()

    def _sweep(self) -> None:
        self._sweep_timer = None
        loop = asyncio.get_running_loop()
        try:
            now = loop.time()
            for connection in [c for c in self._open if c.deadline <= now]:
                connection.deadline_passed()
        finally:
            if self._open:
                self._sweep_timer = loop.call_later(self._sweep_interval, self._sweep)


class DoorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the door's limits; `door_protocol` binds the door.

    A connection awaits one thing at a time, with a deadline: its head (from the connection's
    start, or from the previous answer), or its body (from the end of its head); nothing while
    the app answers. Past the deadline it is refused, then lingers a moment and is closed."""

    door: ClassVar[Door]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = self.door.limits
        # uvicorn closes a kept-alive connection idle for `timeout_keep_alive`, but not one
        # that sends a little and no head (blank lines): that one is ended here.
        self.next_head_seconds = self.timeout_keep_alive + self.limits.head_timeout_seconds
        self.reading_head = True  # from the end of a message until the next head has ended
        self.head_bytes = 0
        self.lingering = False
        self.awaiting: Refusal | None = None  # what `deadline` ends, if anything
        self.deadline = math.inf

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.door.admit(self):
            self._await(Refusal.HEAD_TIMEOUT, self.limits.head_timeout_seconds)
            return
        # Refused before a byte is read, and closed without lingering, which would hold the
        # very connection the refusal means to spare.
        self.reading_head, self.lingering = False, True  # whatever arrives is dropped
        self.door.count(Refusal.TOO_MANY_CONNECTIONS)
        transport.write(self._refusal_answer(Refusal.TOO_MANY_CONNECTIONS))
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.door.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_head:
            room = self.limits.max_head_bytes - self.head_bytes
            if len(data) > room:
                self._receive_past_head_room(data, room)
                return
            self.head_bytes += len(data)
        elif self.lingering:
            return
        super().data_received(data)

    def _receive_past_head_room(self, data: bytes, room: int) -> None:
        """The parser gets no more than the head's room: a head that has not ended within it is
        too large; if it has, the rest is its body or the next request. Exact for a head that
        starts a read; one pipelined behind another in the same read may hold up to twice the
        limit before it is refused."""
        cycle_before = self.cycle
        super().data_received(data[:room])
        if self.transport.is_closing() or self.lingering:
            return
        if self.cycle is cycle_before:  # no head ended: on_headers_complete starts a cycle
            self._refuse(Refusal.HEAD_TOO_LARGE)
        else:
            self.data_received(data[room:])

    # Parser and cycle callbacks: they move the deadline along the request.
    def on_headers_complete(self) -> None:
        self.reading_head = False
        super().on_headers_complete()
        if self.pipeline:  # queued behind a request in progress, with reading paused
            self._await(None)
        else:
            self._await(Refusal.BODY_TIMEOUT, self.limits.body_timeout_seconds)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head, self.head_bytes = True, 0
        if self.cycle is None or self.cycle.response_complete:
            self._await(Refusal.HEAD_TIMEOUT, self.next_head_seconds)
        else:  # the app is answering
            self._await(None)

    def on_response_complete(self) -> None:
        upcoming = self.pipeline[-1][0] if self.pipeline else None
        super().on_response_complete()
        if self.transport.is_closing() or self.lingering:
            return
        if upcoming is not None:  # a queued request starts; its body may still be on the way
            if upcoming.more_body:
                self._await(Refusal.BODY_TIMEOUT, self.limits.body_timeout_seconds)
            else:
                self._await(None)
        elif self.reading_head:  # else the body of an early answered request is still coming
            self._await(Refusal.HEAD_TIMEOUT, self.next_head_seconds)

    def _await(self, refusal: Refusal | None, seconds: float = 0.0) -> None:
        self.awaiting = refusal
        self.deadline = math.inf if refusal is None else self.loop.time() + seconds

    def deadline_passed(self) -> None:
        if self.awaiting is None or self.transport.is_closing():  # lingering, or not reading
            self.transport.abort()
        else:
            self._refuse(self.awaiting)

    def _refuse(self, refusal: Refusal) -> None:
        self.door.count(refusal)
        if self._may_answer(refusal):
            self.transport.write(self._refusal_answer(refusal))
        self._hang_up()

    def _may_answer(self, refusal: Refusal) -> bool:
        """Only when no answer is being written, so that the refusal is the whole answer to the
        request it refuses."""
        if refusal is Refusal.BODY_TIMEOUT:
            return not self.cycle.response_started
        return self.cycle is None or self.cycle.response_complete

    def _hang_up(self) -> None:
        """Stop the request in progress, send what was written, and linger before closing."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() answers http.disconnect
            cycle.waiting_for_100_continue = False
            cycle.message_event.set()
        self.reading_head, self.lingering = False, True
        self.awaiting, self.deadline = None, self.loop.time() + LINGER_SECONDS
        self.flow.resume_reading()  # to drop what the client sends rather than leave it unread
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()

    def _refusal_answer(self, refusal: Refusal) -> bytes:
        """The whole answer of a refusal, closing the connection."""
        status = ANSWERS[refusal]
        body = status.phrase.encode()
        lines = [b"HTTP/1.1 %d %s" % (status, body)]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: %d" % len(body),
            b"connection: close",
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def door_protocol(door: Door) -> type[DoorProtocol]:
    """The protocol class uvicorn makes one of per connection, bound to `door` (uvicorn hands a
    connection only its config)."""

    class BoundDoorProtocol(DoorProtocol):
        pass

    BoundDoorProtocol.door = door
    return BoundDoorProtocol


def server_config(app: ASGIApp, settings: BaseServiceSettings) -> uvicorn.Config:
    """How every service is served: `shared.service.serve` runs it, the tests too."""
    door = Door(DoorLimits.of(settings), service=settings.service_name)
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        http=door_protocol(door),
        log_config=None,
        access_log=False,
        # The client address is read where refusals are admitted per source (ingest). Behind
        # reverse proxies it is the X-Forwarded-For they set; without any, no rewriting at all
        # (the rewriting cost 2% of a webhook's CPU, make bench-ingest).
        proxy_headers=settings.http_trusted_proxies is not None,
        forwarded_allow_ips=settings.http_trusted_proxies,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
