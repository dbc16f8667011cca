"""The Kafka wire protocol, just enough to ask a broker "are you serving?"."""

import socket
import struct

from stack.processes import HOST

API_VERSIONS_KEY = 18


def api_versions_ok(port: int, timeout: float = 2.0) -> bool:
    """Send ApiVersions v0 (request header v1) and expect error_code 0 back."""
    correlation_id = 0x5C12
    client_id = b"scrm-stack"
    request = struct.pack(">hhih", API_VERSIONS_KEY, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size: int = struct.unpack(">i", recv_exactly(sock, 4))[0]
            if not 6 <= size <= 1 << 20:
                return False
            response = recv_exactly(sock, size)
    except OSError:
        return False
    answered: tuple[int, int] = struct.unpack_from(">ih", response)
    return answered == (correlation_id, 0)


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < count:
        chunk = sock.recv(count - len(buffer))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        buffer += chunk
    return bytes(buffer)
