"""Small per-process caches of what the claim path would otherwise ask PostgreSQL on every
request: bounded (the oldest entry goes first) and short-lived (an entry is trusted for a few
seconds only, so replicas that do not share them agree again soon)."""

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from services.coupons.models import Packet

K = TypeVar("K")
V = TypeVar("V")
EMPTY_PACKETS_KEPT = 10_000
EMPTY_PACKET_SECONDS = 5.0


class TtlCache(Generic[K, V]):
    """At most `size` entries, each kept for `seconds` after it was put."""

    def __init__(
        self, *, size: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size, self._seconds, self._clock = size, seconds, clock

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._clock() + self._seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop_where(self, matches: Callable[[V], bool]) -> None:
        for key in [key for key, (_, value) in self._entries.items() if matches(value)]:
            del self._entries[key]


@dataclass(frozen=True)
class EmptyPacket:
    id: uuid.UUID
    account: str
    owner_fan_key: str
    claim_ends_at: datetime
    claimers: frozenset[str]  # final: no claim comes once every share is claimed


class EmptyPackets:
    """Packets found with every share claimed, by share code, with their claimers, for a few
    seconds: a claimed share is never unclaimed, so the packet stays empty and its claimers stay
    the same; a claim of it is answered without the database, but for its claimers' own."""

    def __init__(
        self, *, size: int = EMPTY_PACKETS_KEPT, seconds: float = EMPTY_PACKET_SECONDS
    ) -> None:
        self._cache: TtlCache[str, EmptyPacket] = TtlCache(size=size, seconds=seconds)

    def get(self, share_code: str) -> EmptyPacket | None:
        return self._cache.get(share_code)

    def add(self, packet: Packet, claimers: frozenset[str]) -> None:
        self._cache.put(packet.share_code, EmptyPacket(
            packet.id, packet.account, packet.owner_fan_key, packet.claim_ends_at, claimers,
        ))  # fmt: skip
